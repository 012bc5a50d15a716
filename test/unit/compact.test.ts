/**
 * The canonical base64url check of a compact serialization's parts (src/crypto/compact.ts) gives the
 * same answer as the decode-and-encode round trip it replaced, on every short string over an alphabet
 * with the characters that matter, and on random and mutated longer ones.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { isCanonicalBase64url } from '../../src/crypto/compact.js';

/** What the check must answer: Node's encoder gives back exactly this string. */
const roundTrip = (s: string) => Buffer.from(s, 'base64url').toString('base64url') === s;

// The URL alphabet's edges and values with low bits set or clear, the standard alphabet's two
// characters, padding, a dot, whitespace, a non-ASCII latin1 character and a NUL.
const ALPHABET = [
  'A',
  'B',
  'E',
  'Q',
  'g',
  'w',
  'z',
  '0',
  '9',
  '-',
  '_',
  '+',
  '/',
  '=',
  '.',
  ' ',
  '\n',
  'é',
  '\0',
];

describe('compact: canonical base64url', () => {
  it('agrees with the round trip on every string of up to 4 characters over the edge alphabet', () => {
    let checked = 0;
    const walk = (prefix: string, depth: number): void => {
      expect(isCanonicalBase64url(prefix), JSON.stringify(prefix)).to.equal(roundTrip(prefix));
      checked++;
      if (depth === 0) return;
      for (const c of ALPHABET) walk(prefix + c, depth - 1);
    };
    walk('', 4);
    expect(checked).to.equal(1 + 19 + 19 ** 2 + 19 ** 3 + 19 ** 4);
  });

  it('agrees with the round trip on encodings of random bytes, and on each with one character changed', () => {
    const all = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_', ...ALPHABET];
    let rejected = 0;
    for (let n = 0; n < 2000; n++) {
      const s = randomBytes(n % 97).toString('base64url');
      expect(isCanonicalBase64url(s), s).to.equal(true);
      if (s.length === 0) continue;
      const at = randomBytes(2).readUInt16BE() % s.length;
      const c = all[randomBytes(1)[0]! % all.length]!;
      const changed = s.slice(0, at) + c + s.slice(at + 1);
      const want = roundTrip(changed);
      if (!want) rejected++;
      expect(isCanonicalBase64url(changed), JSON.stringify(changed)).to.equal(want);
    }
    // The mutations reach both answers (a wrong last character, a foreign one).
    expect(rejected).to.be.greaterThan(100);
  });

  it('refuses the spellings a lenient decoder takes for the same bytes', () => {
    const s = Buffer.from('accord').toString('base64url'); // 'YWNjb3Jk'
    expect(isCanonicalBase64url(s)).to.equal(true);
    for (const other of [`${s}=`, `${s}==`, 'YWNjb3Jk\n', 'YWNj+3Jk', 'YWNjb3J', 'YR', 'YWP']) {
      expect(isCanonicalBase64url(other), other).to.equal(false);
    }
  });
});
