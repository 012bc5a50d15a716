/**
 * The pure crypto layer: seal (JWS then JWE) and open (the strict reverse). No broker, no Redis.
 * Every refusal is asserted by its stable AccordError code; every error is also checked to carry no
 * payload text and no private key member.
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import jose from 'node-jose';
import type { AccordError } from '../src/errors.js';
import { generatePartyKeys } from '../src/crypto/keygen.js';
import { KeyRing } from '../src/crypto/keyring.js';
import { open } from '../src/crypto/open.js';
import { seal } from '../src/crypto/seal.js';
import { CTY_JWE, TYP_JWE, TYP_JWS, type CryptoProfile } from '../src/crypto/profile.js';
import { expectCode } from './helpers/expect-code.js';

type PartyKeys = Awaited<ReturnType<typeof generatePartyKeys>>;
type Header = Record<string, unknown>;

const profile: CryptoProfile = {
  signatureAlgs: ['ES256'],
  keyEncryptionAlgs: ['ECDH-ES+A256KW'],
  contentEncryptionAlgs: ['A256GCM'],
  maxMessageBytes: 64 * 1024,
};

/** Text that must never show up in an error. */
const SECRET_TEXT = 'Operation NIGHTJAR: suspect passport KZ-7734-0091';
const payload = Buffer.from(JSON.stringify({ note: SECRET_TEXT }));

const B64U_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const PART_NAMES = ['protected header', 'encrypted key', 'IV', 'ciphertext', 'tag'] as const;

/** Secret values (private `d`, symmetric `k`) no error may contain; filled in `before()`. */
const secrets: string[] = [SECRET_TEXT];
/** Every AccordError caught by {@link codeOf}, for the "no secret" sweep at the end. */
const caught: AccordError[] = [];

function expectNoSecret(err: AccordError): void {
  const json = JSON.stringify(err.toJSON());
  for (const secret of secrets) {
    expect(json, `${err.code} toJSON()`).not.to.include(secret);
    expect(err.message, `${err.code} message`).not.to.include(secret);
  }
}

/** The code of the AccordError the promise rejects with; fails the test if it resolves. */
async function codeOf(p: Promise<unknown>): Promise<string> {
  return (await errorOf(p)).code;
}

/**
 * The AccordError the promise rejects with (test/helpers/expect-code.ts), which carries no secret;
 * kept for the sweep at the end.
 */
async function errorOf(p: Promise<unknown>): Promise<AccordError> {
  const accordErr = await expectCode(p);
  caught.push(accordErr);
  expectNoSecret(accordErr);
  return accordErr;
}

/** Replace the character at `index` by another base64url character (all six bits of a non-final char are data). */
function flipAt(part: string, index: number): string {
  const c = part[index];
  if (c === undefined) throw new Error(`no character at ${index}`);
  const replacement = B64U_ALPHABET[(B64U_ALPHABET.indexOf(c) + 1) % B64U_ALPHABET.length]!;
  return part.slice(0, index) + replacement + part.slice(index + 1);
}

function replacePart(compact: string, index: number, value: string): string {
  const parts = compact.split('.');
  parts[index] = value;
  return parts.join('.');
}

function decodeHeader(encoded: string): Header {
  return JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8')) as Header;
}

function encodeHeader(header: Header): string {
  return Buffer.from(JSON.stringify(header)).toString('base64url');
}

/** The JWE with its protected header rebuilt by `change`; the other four parts are kept. */
function withJweHeader(jwe: string, change: (h: Header) => void): string {
  const header = decodeHeader(jwe.split('.')[0]!);
  change(header);
  return replacePart(jwe, 0, encodeHeader(header));
}

describe('crypto', () => {
  let cz: PartyKeys;
  let kz: PartyKeys;
  let third: PartyKeys;
  /** CZ's ring: signs with CZ's key, encrypts to KZ. */
  let czRing: KeyRing;
  /** KZ's ring: decrypts with KZ's key, verifies CZ's signatures. */
  let kzRing: KeyRing;
  /** A third party that signs with its own key but encrypts to KZ's real encryption key. */
  let thirdToKz: KeyRing;
  /** A ring whose own keys are the third party's, pinning CZ as the peer. */
  let thirdAsReceiver: KeyRing;
  let kid: { czSig: string; kzEnc: string; thirdSig: string };
  let jwe: string;

  before(async () => {
    cz = await generatePartyKeys('CZ');
    kz = await generatePartyKeys('KZ');
    third = await generatePartyKeys('XX');
    for (const set of [cz, kz, third]) secrets.push(...set.privateSet.keys.map((k) => k.d));
    czRing = await KeyRing.fromSets(cz.privateSet, kz.publicSet);
    kzRing = await KeyRing.fromSets(kz.privateSet, cz.publicSet);
    thirdToKz = await KeyRing.fromSets(third.privateSet, kz.publicSet);
    thirdAsReceiver = await KeyRing.fromSets(third.privateSet, cz.publicSet);
    const kidOf = (set: PartyKeys, use: 'sig' | 'enc') => set.publicSet.keys.find((k) => k.use === use)!.kid;
    kid = { czSig: kidOf(cz, 'sig'), kzEnc: kidOf(kz, 'enc'), thirdSig: kidOf(third, 'sig') };
    jwe = await seal(payload, czRing, profile);
  });

  describe('crypto/seal + crypto/open', () => {
    it('round-trips the payload bytes', async () => {
      const { payload: opened } = await open(jwe, kzRing, profile);
      expect(opened.equals(payload)).to.equal(true);
    });

    it('opens the same JWE given as a Buffer', async () => {
      const { payload: opened } = await open(Buffer.from(jwe), kzRing, profile);
      expect(opened.equals(payload)).to.equal(true);
    });

    it('reports the kids, the algorithms and the SHA-256 of the JWE string as facts', async () => {
      const { facts } = await open(jwe, kzRing, profile);
      expect(facts).to.deep.equal({
        jweSha256: createHash('sha256').update(jwe).digest('hex'),
        encryptionKid: kid.kzEnc,
        signatureKid: kid.czSig,
        signatureAlg: 'ES256',
        keyEncryptionAlg: 'ECDH-ES+A256KW',
        contentEncryptionAlg: 'A256GCM',
      });
    });

    it('produces the protected headers of the Accord profile', () => {
      const header = decodeHeader(jwe.split('.')[0]!);
      expect(header).to.include({ typ: TYP_JWE, cty: CTY_JWE, alg: 'ECDH-ES+A256KW', enc: 'A256GCM' });
      expect(header.kid).to.equal(kid.kzEnc);
      expect(header.epk).to.have.keys(['kty', 'crv', 'x', 'y']);
    });
  });

  describe('crypto/open: tampered JWE', () => {
    PART_NAMES.forEach((name, index) => {
      for (const where of ['first', 'middle'] as const) {
        it(`refuses a JWE whose ${name} was changed (${where} character)`, async () => {
          const part = jwe.split('.')[index]!;
          const at = where === 'first' ? 0 : Math.floor(part.length / 2);
          const tampered = replacePart(jwe, index, flipAt(part, at));
          expect(tampered).not.to.equal(jwe);
          const code = await codeOf(open(tampered, kzRing, profile));
          if (index === 0) {
            // A changed header either stops being JSON, fails a header check, or breaks the GCM AAD.
            expect(code).to.match(/^crypto\./);
          } else {
            expect(code).to.equal('crypto.decrypt_failed');
          }
        });
      }
    });

    it('refuses a JWE whose tag was truncated to 12 bytes', async () => {
      const tag = Buffer.from(jwe.split('.')[4]!, 'base64url').subarray(0, 12).toString('base64url');
      expect(await codeOf(open(replacePart(jwe, 4, tag), kzRing, profile))).to.equal('crypto.decrypt_failed');
    });

    it('refuses a JWE with an empty encrypted key', async () => {
      expect(await codeOf(open(replacePart(jwe, 1, ''), kzRing, profile))).to.equal('crypto.malformed');
    });

    it('refuses a JWE whose parts were swapped', async () => {
      const p = jwe.split('.');
      const swapped = [p[0], p[1], p[2], p[4], p[3]].join('.');
      expect(await codeOf(open(swapped, kzRing, profile))).to.equal('crypto.decrypt_failed');
    });

    // Two strings that decode to the same bytes would give two jweSha256 values for one message:
    // open() accepts only canonical base64url, so the receipt's digest is the one the sender recorded.
    it('refuses a JWE whose tag has non-canonical trailing bits', async () => {
      const tag = jwe.split('.')[4]!;
      const last = B64U_ALPHABET.indexOf(tag[tag.length - 1]!);
      const variant = tag.slice(0, -1) + B64U_ALPHABET[last ^ 1]!;
      expect(Buffer.from(variant, 'base64url').equals(Buffer.from(tag, 'base64url'))).to.equal(true);
      expect(await codeOf(open(replacePart(jwe, 4, variant), kzRing, profile))).to.equal('crypto.malformed');
    });
  });

  describe('crypto/open: compact form and size', () => {
    it('refuses four parts as crypto.malformed', async () => {
      const four = jwe.split('.').slice(0, 4).join('.');
      expect(await codeOf(open(four, kzRing, profile))).to.equal('crypto.malformed');
    });

    it('refuses six parts as crypto.malformed', async () => {
      expect(await codeOf(open(`${jwe}.AAAA`, kzRing, profile))).to.equal('crypto.malformed');
    });

    it('refuses an empty input as crypto.malformed', async () => {
      expect(await codeOf(open('', kzRing, profile))).to.equal('crypto.malformed');
    });

    for (const [what, bad] of [
      ['a "+" (base64, not base64url)', '+'],
      ['a "/" (base64, not base64url)', '/'],
      ['"=" padding', '='],
      ['a space', ' '],
      ['a newline', '\n'],
      ['a non-ASCII letter', 'é'],
    ] as const) {
      it(`refuses a part containing ${what} as crypto.malformed`, async () => {
        const part = jwe.split('.')[3]!;
        const tampered = replacePart(jwe, 3, part.slice(0, 10) + bad + part.slice(11));
        expect(await codeOf(open(tampered, kzRing, profile))).to.equal('crypto.malformed');
      });
    }

    it('refuses a Buffer with a non-ASCII byte as crypto.malformed', async () => {
      const bytes = Buffer.from(jwe);
      bytes[bytes.length - 3] = 0xc3;
      expect(await codeOf(open(bytes, kzRing, profile))).to.equal('crypto.malformed');
    });

    it('refuses oversize input as input.too_large before looking at it', async () => {
      // Not a JWE at all: the size check has to come first to report input.too_large.
      const big = '!'.repeat(profile.maxMessageBytes + 1);
      expect(await codeOf(open(big, kzRing, profile))).to.equal('input.too_large');
      expect(await codeOf(open(Buffer.from(big), kzRing, profile))).to.equal('input.too_large');
    });

    it('counts the limit in bytes, not characters', async () => {
      const big = 'é'.repeat(Math.ceil(profile.maxMessageBytes / 2) + 1);
      expect(big.length).to.be.below(profile.maxMessageBytes);
      expect(await codeOf(open(big, kzRing, profile))).to.equal('input.too_large');
    });

    it('refuses a real JWE over a lower limit as input.too_large', async () => {
      const small = { ...profile, maxMessageBytes: jwe.length - 1 };
      expect(await codeOf(open(jwe, kzRing, small))).to.equal('input.too_large');
    });

    it('accepts a JWE exactly at the limit', async () => {
      const exact = { ...profile, maxMessageBytes: jwe.length };
      const { payload: opened } = await open(jwe, kzRing, exact);
      expect(opened.equals(payload)).to.equal(true);
    });
  });

  describe('crypto/open: JWE protected header', () => {
    async function refusal(change: (h: Header) => void): Promise<AccordError> {
      return errorOf(open(withJweHeader(jwe, change), kzRing, profile));
    }

    it('re-encodes an unchanged header to the same bytes (the helper is sound)', () => {
      // Re-serialising the same JSON gives the same bytes, hence the same AAD: only `change` differs.
      expect(withJweHeader(jwe, () => undefined)).to.equal(jwe);
    });

    for (const alg of ['none', 'RSA1_5', 'ECDH-ES', 'dir', 'A256KW']) {
      it(`refuses alg "${alg}" as crypto.alg_not_allowed`, async () => {
        const err = await refusal((h) => {
          h.alg = alg;
        });
        expect(err.code).to.equal('crypto.alg_not_allowed');
        expect(err.path).to.equal('jwe.alg');
      });
    }

    it('refuses a missing alg as crypto.alg_not_allowed', async () => {
      const err = await refusal((h) => {
        delete h.alg;
      });
      expect(err.code).to.equal('crypto.alg_not_allowed');
      expect(err.path).to.equal('jwe.alg');
    });

    for (const enc of ['A128CBC-HS256', 'A128GCM', 'A256CBC-HS512']) {
      it(`refuses enc "${enc}" as crypto.alg_not_allowed`, async () => {
        const err = await refusal((h) => {
          h.enc = enc;
        });
        expect(err.code).to.equal('crypto.alg_not_allowed');
        expect(err.path).to.equal('jwe.enc');
      });
    }

    it('refuses an allowed alg that is not the alg of the key named by kid', async () => {
      const wider = { ...profile, keyEncryptionAlgs: ['ECDH-ES+A256KW', 'ECDH-ES+A128KW'] };
      const tampered = withJweHeader(jwe, (h) => {
        h.alg = 'ECDH-ES+A128KW';
      });
      const err = await errorOf(open(tampered, kzRing, wider));
      expect(err.code).to.equal('crypto.alg_not_allowed');
      expect(err.path).to.equal('jwe.alg');
    });

    const forbidden: [string, (h: Header) => unknown][] = [
      ['zip', () => 'DEF'],
      ['jku', () => 'https://keys.example.net/jwks.json'],
      ['jwk', (h) => h.epk],
      ['x5u', () => 'https://keys.example.net/cert.pem'],
      ['x5c', () => ['MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA']],
      ['x5t', () => 'dGh1bWJwcmludA'],
      ['x5t#S256', () => 'dGh1bWJwcmludA'],
      ['crit', () => ['exp']],
      ['p2s', () => 'c2FsdA'],
      ['p2c', () => 1000],
    ];
    for (const [param, value] of forbidden) {
      it(`refuses an added "${param}" as crypto.header_invalid at jwe.${param}`, async () => {
        const err = await refusal((h) => {
          h[param] = value(h);
        });
        expect(err.code).to.equal('crypto.header_invalid');
        expect(err.path).to.equal(`jwe.${param}`);
      });
    }

    it('refuses a missing typ as crypto.header_invalid', async () => {
      const err = await refusal((h) => {
        delete h.typ;
      });
      expect(err.code).to.equal('crypto.header_invalid');
      expect(err.path).to.equal('jwe.typ');
    });

    for (const typ of ['JWT', 'JOSE', TYP_JWS]) {
      it(`refuses typ "${typ}" as crypto.header_invalid`, async () => {
        const err = await refusal((h) => {
          h.typ = typ;
        });
        expect(err.code).to.equal('crypto.header_invalid');
        expect(err.path).to.equal('jwe.typ');
      });
    }

    it('refuses a wrong cty as crypto.header_invalid', async () => {
      const err = await refusal((h) => {
        h.cty = 'JWT';
      });
      expect(err.code).to.equal('crypto.header_invalid');
      expect(err.path).to.equal('jwe.cty');
    });

    it('refuses an unknown header parameter as crypto.header_invalid', async () => {
      const err = await refusal((h) => {
        h.foo = 'bar';
      });
      expect(err.code).to.equal('crypto.header_invalid');
      expect(err.path).to.equal('jwe.foo');
    });

    it('refuses a header that is not JSON as crypto.header_invalid', async () => {
      const tampered = replacePart(jwe, 0, Buffer.from('{"alg":').toString('base64url'));
      const err = await errorOf(open(tampered, kzRing, profile));
      expect(err.code).to.equal('crypto.header_invalid');
      expect(err.path).to.equal('jwe.header');
    });

    it('refuses a header that is a JSON array as crypto.header_invalid', async () => {
      const tampered = replacePart(jwe, 0, Buffer.from('[1,2]').toString('base64url'));
      const err = await errorOf(open(tampered, kzRing, profile));
      expect(err.code).to.equal('crypto.header_invalid');
      expect(err.path).to.equal('jwe.header');
    });

    it('refuses a __proto__ key in the header', async () => {
      const raw = JSON.stringify(decodeHeader(jwe.split('.')[0]!)).replace(/^\{/, '{"__proto__":{"x":1},');
      const tampered = replacePart(jwe, 0, Buffer.from(raw).toString('base64url'));
      expect(await codeOf(open(tampered, kzRing, profile))).to.equal('crypto.header_invalid');
    });

    it('refuses an unknown kid as crypto.unknown_kid, naming the kid', async () => {
      const err = await refusal((h) => {
        h.kid = 'kz-enc-0000000000000000';
      });
      expect(err.code).to.equal('crypto.unknown_kid');
      expect(err.kid).to.equal('kz-enc-0000000000000000');
    });

    it('refuses the kid of KZ’s signing key (wrong use) as crypto.unknown_kid', async () => {
      const kzSig = kz.publicSet.keys.find((k) => k.use === 'sig')!.kid;
      const err = await refusal((h) => {
        h.kid = kzSig;
      });
      expect(err.code).to.equal('crypto.unknown_kid');
    });

    it('refuses a kid with characters outside the allowed set as crypto.header_invalid', async () => {
      const err = await refusal((h) => {
        h.kid = '../../etc/passwd';
      });
      expect(err.code).to.equal('crypto.header_invalid');
      expect(err.path).to.equal('jwe.kid');
    });

    it('refuses an epk whose point is not on P-256 as crypto.header_invalid at jwe.epk', async () => {
      const err = await refusal((h) => {
        const epk = h.epk as { x: string };
        const x = Buffer.from(epk.x, 'base64url');
        x.writeUInt8(x.readUInt8(x.length - 1) ^ 0x01, x.length - 1);
        epk.x = x.toString('base64url');
      });
      expect(err.code).to.equal('crypto.header_invalid');
      expect(err.path).to.equal('jwe.epk');
    });

    it('refuses an epk at the point (0, 0) as crypto.header_invalid', async () => {
      const zero = Buffer.alloc(32).toString('base64url');
      const err = await refusal((h) => {
        h.epk = { kty: 'EC', crv: 'P-256', x: zero, y: zero };
      });
      expect(err.code).to.equal('crypto.header_invalid');
      expect(err.path).to.equal('jwe.epk');
    });

    it('refuses a missing epk as crypto.header_invalid', async () => {
      const err = await refusal((h) => {
        delete h.epk;
      });
      expect(err.code).to.equal('crypto.header_invalid');
      expect(err.path).to.equal('jwe.epk');
    });

    it('refuses an epk on another curve as crypto.header_invalid', async () => {
      const err = await refusal((h) => {
        (h.epk as Header).crv = 'P-384';
      });
      expect(err.code).to.equal('crypto.header_invalid');
      expect(err.path).to.equal('jwe.epk');
    });

    it('refuses an epk that carries a private member as crypto.header_invalid', async () => {
      const err = await refusal((h) => {
        (h.epk as Header).d = Buffer.alloc(32, 1).toString('base64url');
      });
      expect(err.code).to.equal('crypto.header_invalid');
      expect(err.path).to.match(/^jwe\.epk/);
    });
  });

  describe('crypto/open: wrong keys', () => {
    it('refuses a JWE opened with a third party’s own keys as crypto.unknown_kid', async () => {
      expect(await codeOf(open(jwe, thirdAsReceiver, profile))).to.equal('crypto.unknown_kid');
    });

    it('refuses a JWE signed by a signer that is not pinned as crypto.unknown_kid (JWS layer)', async () => {
      const forged = await seal(payload, thirdToKz, profile);
      // The JWE layer is fine (it is encrypted to KZ's real key); the signer is not pinned.
      const err = await errorOf(open(forged, kzRing, profile));
      expect(err.code).to.equal('crypto.unknown_kid');
      expect(err.kid).to.equal(kid.thirdSig);
    });

    it('refuses the unpinned signer even when it reuses the pinned signer’s kid (crypto.bad_signature)', async () => {
      const impostor = {
        keys: third.privateSet.keys.map((k) => (k.use === 'sig' ? { ...k, kid: kid.czSig } : k)),
      };
      const ring = await KeyRing.fromSets(impostor, kz.publicSet);
      const forged = await seal(payload, ring, profile);
      expect(await codeOf(open(forged, kzRing, profile))).to.equal('crypto.bad_signature');
    });

    it('refuses a JWE sent back to its own sender', async () => {
      // CZ's ring decrypts only with CZ's keys; the JWE names KZ's encryption kid.
      expect(await codeOf(open(jwe, czRing, profile))).to.equal('crypto.unknown_kid');
    });
  });

  describe('crypto/open: inner JWS', () => {
    let czSigKey: jose.JWK.Key;
    let kzEncKey: jose.JWK.Key;
    let hmacKey: jose.JWK.Key;

    before(async () => {
      czSigKey = czRing.signingKey;
      kzEncKey = czRing.peerEncryptionKey;
      const k = randomBytes(32).toString('base64url');
      secrets.push(k);
      // A symmetric key posing as CZ's signing key (same kid): the algorithm check must stop it.
      hmacKey = await jose.JWK.asKey({ kty: 'oct', k, kid: kid.czSig, use: 'sig', alg: 'HS256' });
    });

    /** A compact JWS over `payload`, signed by node-jose with the given protected `fields`. */
    async function signJws(key: jose.JWK.Key, alg: string, fields: Header): Promise<string> {
      const signer = jose.JWS.createSign(
        { format: 'compact', fields },
        // The typings miss the signatory form {key, reference, header} that node-jose accepts.
        { key, reference: 'kid', header: { alg } } as unknown as jose.JWK.Key,
      );
      return (await signer.update(payload).final()) as unknown as string;
    }

    /** A JWE to KZ's encryption key around any inner text, with Accord's outer headers. */
    async function encryptToKz(inner: string): Promise<string> {
      const encrypter = jose.JWE.createEncrypt(
        { format: 'compact', contentAlg: 'A256GCM', fields: { typ: TYP_JWE, cty: CTY_JWE } },
        { key: kzEncKey, reference: 'kid', header: { alg: 'ECDH-ES+A256KW' } } as unknown as jose.JWK.Key,
      );
      return String(await encrypter.update(inner).final());
    }

    /** A JWS assembled by hand; the signature is junk, for checks that must come before verifying. */
    function rawJws(header: Header): string {
      return [encodeHeader(header), payload.toString('base64url'), 'AAAA'].join('.');
    }

    it('opens a hand-made JWE around a proper inner JWS (the helpers are sound)', async () => {
      const jws = await signJws(czSigKey, 'ES256', { typ: TYP_JWS });
      const { payload: opened, facts } = await open(await encryptToKz(jws), kzRing, profile);
      expect(opened.equals(payload)).to.equal(true);
      expect(facts.signatureKid).to.equal(kid.czSig);
    });

    it('refuses an inner JWS without typ as crypto.header_invalid', async () => {
      const jws = await signJws(czSigKey, 'ES256', {});
      const err = await errorOf(open(await encryptToKz(jws), kzRing, profile));
      expect(err.code).to.equal('crypto.header_invalid');
      expect(err.path).to.equal('jws.typ');
    });

    it('refuses an inner JWS with the JWE typ as crypto.header_invalid', async () => {
      const jws = await signJws(czSigKey, 'ES256', { typ: TYP_JWE });
      const err = await errorOf(open(await encryptToKz(jws), kzRing, profile));
      expect(err.code).to.equal('crypto.header_invalid');
      expect(err.path).to.equal('jws.typ');
    });

    it('refuses an inner JWS whose signature was corrupted as crypto.bad_signature', async () => {
      const jws = await signJws(czSigKey, 'ES256', { typ: TYP_JWS });
      const corrupted = replacePart(jws, 2, flipAt(jws.split('.')[2]!, 0));
      const err = await errorOf(open(await encryptToKz(corrupted), kzRing, profile));
      expect(err.code).to.equal('crypto.bad_signature');
      expect(err.kid).to.equal(kid.czSig);
    });

    it('refuses an inner JWS whose payload was changed as crypto.bad_signature', async () => {
      const jws = await signJws(czSigKey, 'ES256', { typ: TYP_JWS });
      const changed = replacePart(jws, 1, Buffer.from('{"note":"other"}').toString('base64url'));
      expect(await codeOf(open(await encryptToKz(changed), kzRing, profile))).to.equal(
        'crypto.bad_signature',
      );
    });

    it('refuses an inner JWS signed with HS256 (a symmetric key) as crypto.alg_not_allowed', async () => {
      const jws = await signJws(hmacKey, 'HS256', { typ: TYP_JWS });
      const err = await errorOf(open(await encryptToKz(jws), kzRing, profile));
      expect(err.code).to.equal('crypto.alg_not_allowed');
      expect(err.path).to.equal('jws.alg');
    });

    it('refuses an inner JWS with alg "none" as crypto.alg_not_allowed', async () => {
      const jws = [
        encodeHeader({ alg: 'none', kid: kid.czSig, typ: TYP_JWS }),
        payload.toString('base64url'),
        '',
      ];
      expect(await codeOf(open(await encryptToKz(jws.join('.')), kzRing, profile))).to.equal(
        'crypto.alg_not_allowed',
      );
    });

    it('refuses an inner JWS with an embedded jwk as crypto.header_invalid at jws.jwk', async () => {
      const pub = cz.publicSet.keys.find((k) => k.use === 'sig')!;
      const jws = rawJws({ alg: 'ES256', kid: kid.czSig, typ: TYP_JWS, jwk: pub });
      const err = await errorOf(open(await encryptToKz(jws), kzRing, profile));
      expect(err.code).to.equal('crypto.header_invalid');
      expect(err.path).to.equal('jws.jwk');
    });

    it('refuses an inner JWS with crit / b64 as crypto.header_invalid', async () => {
      const jws = rawJws({ alg: 'ES256', kid: kid.czSig, typ: TYP_JWS, b64: false, crit: ['b64'] });
      expect(await codeOf(open(await encryptToKz(jws), kzRing, profile))).to.equal('crypto.header_invalid');
    });

    it('refuses an inner JWS signed by an unpinned kid as crypto.unknown_kid', async () => {
      const jws = rawJws({ alg: 'ES256', kid: 'cz-sig-0000000000000000', typ: TYP_JWS });
      const err = await errorOf(open(await encryptToKz(jws), kzRing, profile));
      expect(err.code).to.equal('crypto.unknown_kid');
      expect(err.kid).to.equal('cz-sig-0000000000000000');
    });

    it('refuses a plaintext that is not a compact JWS as crypto.malformed', async () => {
      expect(await codeOf(open(await encryptToKz(SECRET_TEXT), kzRing, profile))).to.equal(
        'crypto.malformed',
      );
      const json = JSON.stringify({ payload: payload.toString('base64url'), signatures: [] });
      expect(await codeOf(open(await encryptToKz(json), kzRing, profile))).to.equal('crypto.malformed');
    });
  });

  describe('crypto/open: errors carry no secret', () => {
    it('no refusal above puts the payload text or a private key member in its message or JSON', function () {
      if (caught.length === 0) this.skip(); // only when the tests above were filtered out
      expect(secrets.length).to.be.greaterThan(6);
      for (const err of caught) {
        expectNoSecret(err);
        const json = JSON.stringify(err.toJSON());
        expect(json).not.to.include('"cause"');
        expect(json).not.to.match(/"d":/);
      }
    });

    it('an error from a tampered JWE names only code, message and non-secret facts', async () => {
      const err = await errorOf(open(replacePart(jwe, 3, flipAt(jwe.split('.')[3]!, 0)), kzRing, profile));
      expect(Object.keys(err.toJSON())).to.have.members(['code', 'message', 'kid']);
      expect(err.toJSON().kid).to.equal(kid.kzEnc);
    });
  });
});
