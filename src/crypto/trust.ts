/**
 * Trust bootstrap between the two parties: there is no central server or CA, so each party's
 * public JWK Set is exchanged as a file and its RFC 7638 thumbprints are read to the other party over
 * another channel (a call, a signed letter). `import-peer` refuses a set whose thumbprints are not
 * exactly the ones checked.
 */
import { AccordError } from '../errors.js';
import type { PublicJwk, PublicJwkSet } from './jwk.js';
import { thumbprint } from './keygen.js';

/** A public key and its thumbprint, as `accord keys export` writes them. */
export interface ThumbprintLine {
  kid: string;
  use: 'sig' | 'enc';
  alg: string;
  thumbprint: string;
}

/** The thumbprint lines of a public set, in key order. */
export function thumbprints(set: PublicJwkSet): ThumbprintLine[] {
  return set.keys.map((k: PublicJwk) => ({ kid: k.kid, use: k.use, alg: k.alg, thumbprint: thumbprint(k) }));
}

const THUMBPRINT = /^[A-Za-z0-9_-]{43}$/;

/**
 * Check a set against the thumbprints confirmed out of band: every key's thumbprint must be expected and
 * every expected thumbprint present. Throws `keys.thumbprint_mismatch` naming the kid at fault (never
 * key members); `schema.invalid` for a value that is not a SHA-256 thumbprint.
 */
export function checkThumbprints(set: PublicJwkSet, expected: readonly string[]): void {
  if (expected.length === 0) {
    throw new AccordError(
      'keys.thumbprint_mismatch',
      'no --expect-thumbprint given: a peer set is imported only against thumbprints checked out of band',
    );
  }
  expected.forEach((t, i) => {
    if (!THUMBPRINT.test(t)) {
      throw new AccordError(
        'schema.invalid',
        'not an RFC 7638 SHA-256 thumbprint (43 base64url characters)',
        {
          path: `expectThumbprint.${i}`,
        },
      );
    }
  });
  const want = new Set(expected);
  const lines = thumbprints(set);
  for (const l of lines) {
    if (!want.has(l.thumbprint)) {
      throw new AccordError(
        'keys.thumbprint_mismatch',
        `key ${l.kid} has a thumbprint that was not confirmed`,
        {
          kid: l.kid,
        },
      );
    }
  }
  const have = new Set(lines.map((l) => l.thumbprint));
  const missing = expected.filter((t) => !have.has(t));
  if (missing.length > 0) {
    throw new AccordError(
      'keys.thumbprint_mismatch',
      `${missing.length} confirmed thumbprint(s) match no key in the set`,
    );
  }
}
