/**
 * Keys: the JWK Set formats (what a key file may hold), key generation for every allowed algorithm,
 * and keys at rest — passphrase encryption with bounded work factors, owner-only files, no plaintext
 * keys in production — down to the gateway refusing to start. No error or log line may carry a
 * passphrase or a private key member.
 */
import { expect } from 'chai';
import { generateKeyPair } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import jose from 'node-jose';
import { checkConfigData } from '../src/config.js';
import { generatePartyKeys, publicHalf } from '../src/crypto/keygen.js';
import { bitLength, parsePrivateJwks, parsePublicJwks, type PrivateJwk } from '../src/crypto/jwk.js';
import { KeyRing } from '../src/crypto/keyring.js';
import {
  decryptJwks,
  encryptJwks,
  loadPrivateJwks,
  P2C_WRITE,
  type PrivateKeySource,
} from '../src/crypto/keystore.js';
import { open } from '../src/crypto/open.js';
import { FULL_PROFILE, TYP_JWKS } from '../src/crypto/profile.js';
import { seal } from '../src/crypto/seal.js';
import type { AccordError } from '../src/errors.js';
import { Gateway } from '../src/gateway.js';
import { ROOT, memoryLogger, pairConfigs, removeNamespace, uniqueStem } from './helpers/harness.js';
import { expectCode } from './helpers/expect-code.js';
import { tempDir } from './helpers/temp.js';

const PASSPHRASE = 'correct horse battery staple 7';
type Json = Record<string, any>;

/** Secrets no error may carry: the passphrase and every private member seen. */
const secrets = new Set<string>([PASSPHRASE]);
function remember(keys: PrivateJwk[]): void {
  for (const k of keys) {
    for (const m of ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const) {
      const v = (k as Json)[m];
      if (typeof v === 'string') secrets.add(v);
    }
  }
}

function expectNoSecret(err: AccordError): void {
  const text = `${err.message} ${JSON.stringify(err.toJSON())}`;
  for (const s of secrets) expect(text.includes(s), `${err.code} carries a secret`).to.equal(false);
}

/** The AccordError `fn` throws, sync or async (test/helpers/expect-code.ts), which carries no secret. */
async function refusal(fn: () => unknown): Promise<AccordError> {
  const err = await expectCode(fn);
  expectNoSecret(err);
  return err;
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
const tmp = (prefix: string) => tempDir(prefix);

function writeSecret(dir: string, name: string, content: string, mode = 0o600): string {
  const file = join(dir, name);
  writeFileSync(file, content, { mode });
  chmodSync(file, mode); // the umask may have taken bits away
  return file;
}

describe('keys', function () {
  this.timeout(60_000);
  let ec: Awaited<ReturnType<typeof generatePartyKeys>>;
  let rsa: Awaited<ReturnType<typeof generatePartyKeys>>;
  let p384: Awaited<ReturnType<typeof generatePartyKeys>>;

  before(async () => {
    ec = await generatePartyKeys('CZ');
    rsa = await generatePartyKeys('KZ', { sig: 'PS256', enc: 'RSA-OAEP-256', rsaBits: 2048 });
    p384 = await generatePartyKeys('KZ', { crv: 'P-384' });
    for (const s of [ec, rsa, p384]) remember(s.privateSet.keys);
  });

  describe('crypto/keygen', () => {
    it('makes ES256 + ECDH-ES+A256KW on P-256 by default', () => {
      expect(ec.privateSet.keys.map((k) => [k.use, k.alg, k.kty === 'EC' ? k.crv : k.kty])).to.deep.equal([
        ['sig', 'ES256', 'P-256'],
        ['enc', 'ECDH-ES+A256KW', 'P-256'],
      ]);
    });

    it('makes an ECDH-ES+A256KW key on P-384 with --crv P-384', () => {
      const enc = p384.privateSet.keys[1]!;
      expect(enc).to.include({ kty: 'EC', crv: 'P-384', alg: 'ECDH-ES+A256KW', use: 'enc' });
    });

    it('makes RSA keys for PS256 and RSA-OAEP-256, 3072 bits unless told otherwise', async () => {
      expect(rsa.privateSet.keys.map((k) => [k.use, k.alg, k.kty])).to.deep.equal([
        ['sig', 'PS256', 'RSA'],
        ['enc', 'RSA-OAEP-256', 'RSA'],
      ]);
      const bits = (k: PrivateJwk) => (k.kty === 'RSA' ? bitLength(Buffer.from(k.n, 'base64url')) : 0);
      expect(rsa.privateSet.keys.map(bits)).to.deep.equal([2048, 2048]);
      const dflt = await generatePartyKeys('CZ', { sig: 'PS256' });
      remember(dflt.privateSet.keys);
      expect(bits(dflt.privateSet.keys[0]!)).to.equal(3072);
    });

    it('makes sets that pass the JWK Set schemas, with public halves that carry no private member', () => {
      for (const s of [ec, rsa, p384]) {
        expect(() => parsePrivateJwks(s.privateSet, 'generated')).not.to.throw();
        expect(() => parsePublicJwks(s.publicSet, 'generated')).not.to.throw();
        const text = JSON.stringify(s.publicSet);
        for (const m of ['"d"', '"p"', '"q"', '"dp"', '"dq"', '"qi"']) expect(text).not.to.include(m);
      }
    });

    it('names each key by party, use and thumbprint', () => {
      expect(ec.privateSet.keys.map((k) => k.kid)).to.satisfy((kids: string[]) =>
        kids.every((kid, i) => kid.startsWith(i === 0 ? 'cz-sig-' : 'cz-enc-')),
      );
      expect(new Set(rsa.privateSet.keys.map((k) => k.kid)).size).to.equal(2);
    });
  });

  describe('crypto/jwk: what a key file may hold', () => {
    it('refuses each private member in a public set, naming the member', async () => {
      const members: [PrivateJwk, string][] = [
        [ec.privateSet.keys[0]!, 'd'],
        ...['d', 'p', 'q', 'dp', 'dq', 'qi'].map((m): [PrivateJwk, string] => [rsa.privateSet.keys[0]!, m]),
      ];
      for (const [key, member] of members) {
        const pub: Json = publicHalf(key);
        pub[member] = (key as Json)[member];
        const err = await refusal(() => parsePublicJwks({ keys: [pub] }, 'peer.jwks'));
        expect(err, member).to.include({ code: 'keys.invalid', path: `keys.0.${member}` });
      }
    });

    it('refuses an RSA key under 2048 bits', async () => {
      const { privateKey } = await promisify(generateKeyPair)('rsa', { modulusLength: 1024 });
      const small = {
        ...privateKey.export({ format: 'jwk' }),
        kid: 'small',
        use: 'sig',
        alg: 'PS256',
      } as Json;
      secrets.add(small.d);
      const err = await refusal(() => parsePrivateJwks({ keys: [small] }, 'own.jwks'));
      expect(err).to.include({ code: 'keys.invalid', path: 'keys.0.n' });
      expect(err.message).to.include('1024 bits').and.include('2048');
      const pub = await refusal(() =>
        parsePublicJwks({ keys: [publicHalf(small as PrivateJwk)] }, 'peer.jwks'),
      );
      expect(pub.path).to.equal('keys.0.n');
    });

    for (const [what, e] of [
      ['1', 'AQ'],
      ['3', 'Aw'],
      ['an even number', 'AQAC'],
    ] as const) {
      it(`refuses an RSA public exponent of ${what}`, async () => {
        const key = { ...publicHalf(rsa.privateSet.keys[0]!), e };
        expect(await refusal(() => parsePublicJwks({ keys: [key] }, 'peer.jwks'))).to.include({
          code: 'keys.invalid',
          path: 'keys.0.e',
        });
      });
    }

    const broken: [string, (k: Json) => void, string][] = [
      ['an ES256 key on P-384', (k) => (k.crv = 'P-384'), 'keys.0.crv'],
      ['a signing algorithm with use "enc"', (k) => (k.use = 'enc'), 'keys.0.use'],
      ['an algorithm Accord does not implement (ES384)', (k) => (k.alg = 'ES384'), 'keys.0.alg'],
      ['an unknown member (key_ops)', (k) => (k.key_ops = ['verify']), 'keys.0.key_ops'],
      ['a kid that could name a path', (k) => (k.kid = '../../etc/passwd'), 'keys.0.kid'],
      [
        'a point that is not on the curve',
        (k) => {
          const x = Buffer.from(k.x, 'base64url');
          x[31] = x[31]! ^ 1;
          k.x = x.toString('base64url');
        },
        'keys.0.x',
      ],
      [
        'a coordinate of the wrong length',
        (k) => (k.y = Buffer.alloc(31, 7).toString('base64url')),
        'keys.0.y',
      ],
      ['a symmetric key', (k) => (k.kty = 'oct'), 'keys.0.kty'],
    ];
    for (const [what, change, path] of broken) {
      it(`refuses ${what}`, async () => {
        const key: Json = clone(publicHalf(ec.privateSet.keys[0]!));
        change(key);
        expect(await refusal(() => parsePublicJwks({ keys: [key] }, 'peer.jwks'))).to.include({
          code: 'keys.invalid',
          path,
        });
      });
    }

    it('refuses two keys with one kid', async () => {
      const [a, b] = ec.publicSet.keys.map((k) => clone(k));
      b!.kid = a!.kid;
      expect(await refusal(() => parsePublicJwks({ keys: [a, b] }, 'peer.jwks'))).to.include({
        path: 'keys.1.kid',
      });
    });

    it('refuses a private key whose d belongs to another public key', async () => {
      const key = { ...ec.privateSet.keys[0]!, d: (p384.privateSet.keys[0] as Json).d as string };
      expect(await refusal(() => parsePrivateJwks({ keys: [key] }, 'own.jwks'))).to.include({
        path: 'keys.0.d',
      });
    });

    it('refuses an RSA private key whose primes are not those of its modulus', async () => {
      const key = { ...rsa.privateSet.keys[0]!, p: (rsa.privateSet.keys[1] as Json).p as string };
      expect(await refusal(() => parsePrivateJwks({ keys: [key] }, 'own.jwks'))).to.include({
        path: 'keys.0.p',
      });
    });

    it('refuses a public set where a private one is expected (no d) and a key ring built from one', async () => {
      expect(await refusal(() => parsePrivateJwks(ec.publicSet, 'own.jwks'))).to.include({
        code: 'keys.invalid',
      });
      const err = await refusal(() => KeyRing.fromSets(ec.privateSet, { keys: rsa.privateSet.keys }));
      expect(err.message).to.include('not a valid JWK Set');
    });
  });

  describe('crypto/keystore: passphrase-encrypted JWK Sets', () => {
    let encrypted: string;

    before(async () => {
      encrypted = await encryptJwks(ec.privateSet, PASSPHRASE);
    });

    /** The encrypted set with its protected header rebuilt by `change` (the rest kept). */
    function withHeader(change: (h: Json) => void): string {
      const parts = encrypted.split('.');
      const h = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as Json;
      change(h);
      parts[0] = Buffer.from(JSON.stringify(h)).toString('base64url');
      return parts.join('.');
    }

    it('round-trips a private set', async () => {
      expect(await decryptJwks(encrypted, PASSPHRASE, 'x')).to.deep.equal(
        parsePrivateJwks(ec.privateSet, 'x'),
      );
    });

    it('writes a compact JWE: PBES2-HS512+A256KW, A256GCM, p2c 310000, a 16-byte salt, its own typ, no kid', () => {
      const parts = encrypted.split('.');
      expect(parts).to.have.length(5);
      const h = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as Json;
      expect(h).to.have.keys(['alg', 'enc', 'p2c', 'p2s', 'typ', 'cty']);
      expect(h).to.include({ alg: 'PBES2-HS512+A256KW', enc: 'A256GCM', p2c: P2C_WRITE, typ: TYP_JWKS });
      expect(Buffer.from(h.p2s as string, 'base64url')).to.have.length(16);
      expect(encrypted).not.to.include((ec.privateSet.keys[0] as Json).d as string);
    });

    it('uses a fresh salt and content key each time', async () => {
      const again = await encryptJwks(ec.privateSet, PASSPHRASE);
      expect(again.split('.')[0]).not.to.equal(encrypted.split('.')[0]);
    });

    it('refuses a wrong passphrase as keys.invalid, without echoing it', async () => {
      secrets.add('wrong horse battery staple 8');
      const err = await refusal(() => decryptJwks(encrypted, 'wrong horse battery staple 8', 'own.jwks.jwe'));
      expect(err.code).to.equal('keys.invalid');
      expect(err.message).to.include('wrong passphrase');
    });

    it('refuses to write with a passphrase under 12 characters', async () => {
      expect(await refusal(() => encryptJwks(ec.privateSet, 'short'))).to.include({ code: 'keys.invalid' });
    });

    const headers: [string, (h: Json) => void, string][] = [
      ['p2c below 100000', (h) => (h.p2c = 99_999), 'jwks.p2c'],
      // Refused before any PBKDF2 work: two billion iterations would take hours.
      ['p2c above 1000000', (h) => (h.p2c = 2_000_000_000), 'jwks.p2c'],
      ['p2c that is not an integer', (h) => (h.p2c = '310000'), 'jwks.p2c'],
      ['a salt under 16 bytes', (h) => (h.p2s = Buffer.alloc(8, 1).toString('base64url')), 'jwks.p2s'],
      ['PBES2 with SHA-256', (h) => (h.alg = 'PBES2-HS256+A128KW'), 'jwks.alg'],
      ['another content encryption', (h) => (h.enc = 'A128CBC-HS256'), 'jwks.enc'],
      ['a message typ', (h) => (h.typ = 'accord-message+jwe'), 'jwks.typ'],
      ['compression', (h) => (h.zip = 'DEF'), 'jwks.zip'],
      ['a kid', (h) => (h.kid = 'k1'), 'jwks.kid'],
      ['an embedded key', (h) => (h.jwk = { kty: 'oct', k: 'AAAA' }), 'jwks.jwk'],
    ];
    for (const [what, change, path] of headers) {
      it(`refuses ${what} before deriving any key (${path})`, async () => {
        const err = await refusal(() => decryptJwks(withHeader(change), PASSPHRASE, 'own.jwks.jwe'));
        expect(err).to.include({ code: 'keys.invalid', path });
      });
    }

    it('refuses a tampered ciphertext as keys.invalid', async () => {
      const parts = encrypted.split('.');
      const c = Buffer.from(parts[3]!, 'base64url');
      c[0] = c[0]! ^ 1;
      parts[3] = c.toString('base64url');
      const err = await refusal(() => decryptJwks(parts.join('.'), PASSPHRASE, 'own.jwks.jwe'));
      expect(err.message).to.include('cannot decrypt');
    });

    it('checks the decrypted content as strictly as a plain file (a public set is refused)', async () => {
      // Made with node-jose directly: encryptJwks itself only takes private sets.
      const key = await jose.JWK.asKey({ kty: 'oct', k: Buffer.from(PASSPHRASE).toString('base64url') });
      const jwe = await jose.JWE.createEncrypt(
        {
          format: 'compact',
          contentAlg: 'A256GCM',
          fields: {
            typ: TYP_JWKS,
            cty: 'jwk-set+json',
            p2c: 100_000,
            p2s: Buffer.alloc(16, 3).toString('base64url'),
          },
        },
        { key, reference: false, header: { alg: 'PBES2-HS512+A256KW' } } as unknown as jose.JWK.Key,
      )
        .update(Buffer.from(JSON.stringify(ec.publicSet)))
        .final();
      const err = await refusal(() => decryptJwks(String(jwe), PASSPHRASE, 'own.jwks.jwe'));
      expect(err).to.include({ code: 'keys.invalid', path: 'keys.0.d' });
    });
  });

  describe('crypto/keystore: the gateway’s private key file', () => {
    let dir: string;
    let plain: string;
    let sealed: string;

    before(async () => {
      dir = tmp('keyfile');
      plain = writeSecret(dir, 'private.jwks.json', JSON.stringify(ec.privateSet));
      sealed = writeSecret(dir, 'private.jwks.jwe', `${await encryptJwks(ec.privateSet, PASSPHRASE)}\n`);
    });

    afterEach(() => {
      chmodSync(plain, 0o600);
      chmodSync(sealed, 0o600);
    });

    for (const mode of [0o644, 0o640, 0o604, 0o660, 0o602]) {
      it(`refuses a key file with mode ${mode.toString(8)} as keys.invalid`, async () => {
        chmodSync(plain, mode);
        const err = await refusal(() => loadPrivateJwks({ privateJwks: plain }, {}));
        expect(err.code).to.equal('keys.invalid');
        expect(err.message).to.include(`mode ${mode.toString(8)}`);
      });
    }

    it('accepts modes 600 and 400', async () => {
      for (const mode of [0o600, 0o400]) {
        chmodSync(plain, mode);
        expect((await loadPrivateJwks({ privateJwks: plain }, {})).keys).to.have.length(2);
      }
    });

    it('refuses an unencrypted key file with NODE_ENV=production, accepts the encrypted one', async () => {
      const err = await refusal(() => loadPrivateJwks({ privateJwks: plain }, { NODE_ENV: 'production' }));
      expect(err.message).to.include('NODE_ENV=production');
      const env = { NODE_ENV: 'production', MY_PASSPHRASE: PASSPHRASE };
      const set = await loadPrivateJwks({ privateJwks: sealed, passphraseEnv: 'MY_PASSPHRASE' }, env);
      expect(set).to.deep.equal(parsePrivateJwks(ec.privateSet, 'x'));
    });

    it('takes the passphrase from a file (one trailing newline ignored), which must be owner-only too', async () => {
      const file = writeSecret(dir, 'passphrase', `${PASSPHRASE}\n`);
      const source: PrivateKeySource = { privateJwks: sealed, passphraseFile: file };
      expect((await loadPrivateJwks(source, {})).keys).to.have.length(2);
      chmodSync(file, 0o644);
      const err = await refusal(() => loadPrivateJwks(source, {}));
      expect(err.message).to.include(file).and.include('mode 644');
    });

    it('reads a file that is neither JSON nor a compact JWE as a broken plain file, not as an encrypted one', async () => {
      const junk = writeSecret(dir, 'junk.jwks', 'not a key file\n');
      const err = await refusal(() =>
        loadPrivateJwks({ privateJwks: junk, passphraseEnv: 'P' }, { P: PASSPHRASE }),
      );
      expect(err.code).to.equal('keys.invalid');
      expect(err.message).to.include('not valid JSON');
    });

    it('names a missing passphrase source, never a value', async () => {
      const unset = await refusal(() =>
        loadPrivateJwks({ privateJwks: sealed, passphraseEnv: 'NOPE_PASS' }, {}),
      );
      expect(unset.message).to.include('NOPE_PASS is not set');
      const none = await refusal(() =>
        loadPrivateJwks({ privateJwks: sealed }, { ACCORD_KEY_PASSPHRASE: PASSPHRASE }),
      );
      expect(none.message).to.include('keys.passphraseEnv');
    });

    it('KeyRing.load opens what a ring from the encrypted file seals', async () => {
      const peerFile = join(dir, 'peer.jwks.json');
      writeFileSync(peerFile, JSON.stringify(ec.publicSet));
      const ring = await KeyRing.load({ privateJwks: sealed, passphraseEnv: 'P' }, peerFile, {
        P: PASSPHRASE,
      });
      const jwe = await seal(Buffer.from('{"x":1}'), ring, FULL_PROFILE);
      expect((await open(jwe, ring, FULL_PROFILE)).payload.toString()).to.equal('{"x":1}');
    });
  });

  describe('config: keys.passphraseEnv and keys.passphraseFile', () => {
    const raw = () => JSON.parse(readFileSync(join(ROOT, 'config', 'cz.json'), 'utf8')) as Json;

    it('resolves passphraseFile against the config’s folder', () => {
      const c = raw();
      c.keys.passphraseFile = 'secrets/cz.pass';
      const check = checkConfigData(c, join(ROOT, 'config'));
      expect(check.ok && check.config.keys.passphraseFile).to.equal(
        join(ROOT, 'config', 'secrets', 'cz.pass'),
      );
    });

    it('refuses both sources at once, and a variable name that is not one', () => {
      const both = raw();
      both.keys.passphraseEnv = 'CZ_PASS';
      both.keys.passphraseFile = 'x';
      const a = checkConfigData(both, ROOT);
      expect(a.ok ? [] : a.issues).to.include(
        'keys.passphraseFile: set passphraseEnv or passphraseFile, not both',
      );
      const bad = raw();
      bad.keys.passphraseEnv = 'cz pass';
      const b = checkConfigData(bad, ROOT);
      expect(b.ok ? [] : b.issues.join('\n')).to.match(/^keys\.passphraseEnv: /m);
    });
  });

  describe('gateway start with key files at rest', () => {
    it('refuses to start with a private key file others can read (keys.invalid), before connecting', async () => {
      const dir = tmp('gw');
      const file = writeSecret(
        dir,
        'private.jwks.json',
        readFileSync(join(ROOT, 'certs-example', 'cz', 'private.jwks.json'), 'utf8'),
        0o644,
      );
      const { cz } = pairConfigs(uniqueStem(), (r) => {
        if (r.party === 'CZ') r.keys.privateJwks = file;
      });
      const { log, lines } = memoryLogger();
      const err = await refusal(() => Gateway.start(cz, log));
      expect(err.code).to.equal('keys.invalid');
      expect(err.message).to.include('mode 644');
      expect(lines).to.deep.equal([]);
    });

    it('starts with an encrypted private key and a passphrase file, and logs neither', async () => {
      const dir = tmp('gw');
      const own = JSON.parse(
        readFileSync(join(ROOT, 'certs-example', 'cz', 'private.jwks.json'), 'utf8'),
      ) as Json;
      remember(own.keys as PrivateJwk[]);
      const keyFile = writeSecret(
        dir,
        'private.jwks.jwe',
        await encryptJwks(parsePrivateJwks(own, 'cz'), PASSPHRASE),
      );
      const passFile = writeSecret(dir, 'pass', `${PASSPHRASE}\n`);
      const { cz } = pairConfigs(uniqueStem(), (r) => {
        if (r.party !== 'CZ') return;
        r.keys.privateJwks = keyFile;
        r.keys.passphraseFile = passFile;
      });
      const { log, lines } = memoryLogger();
      const gw = await Gateway.start(cz, log);
      try {
        expect(lines.join('\n')).to.include('gateway started');
      } finally {
        await gw.stop();
        await removeNamespace(cz);
      }
      const text = lines.join('\n');
      for (const s of secrets) expect(text.includes(s), 'a secret in the log').to.equal(false);
    });
  });
});
