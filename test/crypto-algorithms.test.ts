/**
 * The pure crypto layer for every allowed pair — ES256 or PS256 signatures, ECDH-ES+A256KW on P-256 or
 * P-384 or RSA-OAEP-256 key encryption, A256GCM — beyond the ES256/P-256 default that crypto.test.ts
 * covers in depth: round trips, a changed byte in any of the five JWE parts and the three JWS parts,
 * and the attacks particular to RSA and to P-384. Refusals are asserted by code and path.
 */
import { expect } from 'chai';
import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import jose from 'node-jose';
import { generatePartyKeys, publicHalf } from '../src/crypto/keygen.js';
import type { PrivateJwk } from '../src/crypto/jwk.js';
import { KeyRing } from '../src/crypto/keyring.js';
import { open } from '../src/crypto/open.js';
import { CTY_JWE, FULL_PROFILE, TYP_JWE, TYP_JWS, type CryptoProfile } from '../src/crypto/profile.js';
import { seal } from '../src/crypto/seal.js';
import type { AccordError } from '../src/errors.js';
import { expectCode } from './helpers/expect-code.js';

type Header = Record<string, any>;
const SECRET_TEXT = 'Operation KESTREL: witness address Karaganda 12';
const payload = Buffer.from(JSON.stringify({ note: SECRET_TEXT }));
const profile = FULL_PROFILE;
const secrets: string[] = [SECRET_TEXT];

/** The refusal `p` ends in (tests/helpers/expect-code.ts), which must carry none of the secrets. */
async function errorOf(p: Promise<unknown>): Promise<AccordError> {
  const e = await expectCode(p);
  const text = `${e.message} ${JSON.stringify(e.toJSON())}`;
  for (const s of secrets) expect(text.includes(s), `${e.code} carries a secret`).to.equal(false);
  return e;
}

function part(compact: string, i: number): string {
  return compact.split('.')[i]!;
}

function replacePart(compact: string, i: number, value: string): string {
  const parts = compact.split('.');
  parts[i] = value;
  return parts.join('.');
}

/** Flip the lowest bit of the byte in the middle of a part (decoded, changed, re-encoded). */
function flipByte(compact: string, i: number): string {
  const bytes = Buffer.from(part(compact, i), 'base64url');
  const at = Math.floor(bytes.length / 2);
  bytes[at] = bytes[at]! ^ 1;
  return replacePart(compact, i, bytes.toString('base64url'));
}

function header(compact: string): Header {
  return JSON.parse(Buffer.from(part(compact, 0), 'base64url').toString('utf8')) as Header;
}

function withHeader(compact: string, change: (h: Header) => void): string {
  const h = header(compact);
  change(h);
  return replacePart(compact, 0, Buffer.from(JSON.stringify(h)).toString('base64url'));
}

interface Pair {
  name: string;
  sig: 'ES256' | 'PS256';
  enc: 'ECDH-ES+A256KW' | 'RSA-OAEP-256';
  crv?: 'P-256' | 'P-384';
}

const PAIRS: Pair[] = (['ES256', 'PS256'] as const).flatMap((sig) => [
  { name: `${sig} + ECDH-ES+A256KW on P-256`, sig, enc: 'ECDH-ES+A256KW' as const, crv: 'P-256' as const },
  { name: `${sig} + ECDH-ES+A256KW on P-384`, sig, enc: 'ECDH-ES+A256KW' as const, crv: 'P-384' as const },
  { name: `${sig} + RSA-OAEP-256`, sig, enc: 'RSA-OAEP-256' as const },
]);

describe('crypto: every allowed algorithm pair', function () {
  this.timeout(60_000);

  for (const p of PAIRS) {
    describe(p.name, () => {
      let czRing: KeyRing;
      let kzRing: KeyRing;
      let czSig: PrivateJwk;
      let kzEnc: PrivateJwk;
      let jwe: string;

      before(async () => {
        const choice = { sig: p.sig, enc: p.enc, rsaBits: 2048, ...(p.crv ? { crv: p.crv } : {}) };
        const cz = await generatePartyKeys('CZ', choice);
        const kz = await generatePartyKeys('KZ', choice);
        for (const k of [...cz.privateSet.keys, ...kz.privateSet.keys])
          secrets.push((k as Header).d as string);
        czRing = await KeyRing.fromSets(cz.privateSet, kz.publicSet);
        kzRing = await KeyRing.fromSets(kz.privateSet, cz.publicSet);
        czSig = cz.privateSet.keys[0]!;
        kzEnc = kz.privateSet.keys[1]!;
        jwe = await seal(payload, czRing, profile);
      });

      /** A JWE made by hand to KZ's key around `inner`, in Accord's outer profile. */
      async function encryptToKz(inner: string): Promise<string> {
        const key = await jose.JWK.asKey(publicHalf(kzEnc));
        const recipient: Header = { key, reference: 'kid', header: { alg: p.enc } };
        return String(
          await jose.JWE.createEncrypt(
            { format: 'compact', contentAlg: 'A256GCM', fields: { typ: TYP_JWE, cty: CTY_JWE } },
            recipient as unknown as jose.JWK.Key,
          )
            .update(inner)
            .final(),
        );
      }

      /** The inner JWS of `jwe` (decrypted with node-jose, outside Accord's path). */
      async function innerOf(sealed: string): Promise<string> {
        const key = await jose.JWK.asKey(kzEnc);
        const r = await jose.JWE.createDecrypt(key).decrypt(sealed);
        return r.plaintext.toString('latin1');
      }

      it('round-trips, with the algorithms in the protected headers and the facts', async () => {
        const { payload: opened, facts } = await open(jwe, kzRing, profile);
        expect(opened.equals(payload)).to.equal(true);
        expect(facts).to.include({
          signatureAlg: p.sig,
          keyEncryptionAlg: p.enc,
          contentEncryptionAlg: 'A256GCM',
        });
        const h = header(jwe);
        expect(h).to.include({ alg: p.enc, enc: 'A256GCM', typ: TYP_JWE, cty: CTY_JWE, kid: kzEnc.kid });
        if (p.enc === 'ECDH-ES+A256KW') expect(h.epk).to.include({ kty: 'EC', crv: p.crv });
        else expect(h).not.to.have.property('epk');
        expect(header(await innerOf(jwe))).to.deep.equal({ alg: p.sig, kid: czSig.kid, typ: TYP_JWS });
      });

      ['protected header', 'encrypted key', 'IV', 'ciphertext', 'tag'].forEach((name, i) => {
        it(`refuses a changed byte in the JWE ${name}`, async () => {
          const err = await errorOf(open(flipByte(jwe, i), kzRing, profile));
          // A changed header byte may break its JSON, a header rule or the kid before the GCM tag.
          if (i === 0) expect(err.code).to.match(/^crypto\./);
          else expect(err.code).to.equal('crypto.decrypt_failed');
        });
      });

      ['header', 'payload', 'signature'].forEach((name, i) => {
        it(`refuses a changed byte in the inner JWS ${name}`, async () => {
          const inner = flipByte(await innerOf(jwe), i);
          const err = await errorOf(open(await encryptToKz(inner), kzRing, profile));
          // Any header byte: the JSON, a name (alg, kid, typ) or its value; each is a refusal of its own.
          if (i === 0) expect(err.code).to.match(/^crypto\./);
          else expect(err.code).to.equal('crypto.bad_signature');
        });
      });

      it('refuses an inner signature one byte too long or too short as crypto.bad_signature', async () => {
        const inner = await innerOf(jwe);
        const sig = Buffer.from(part(inner, 2), 'base64url');
        for (const variant of [Buffer.concat([sig, Buffer.alloc(1)]), sig.subarray(0, sig.length - 1)]) {
          const changed = replacePart(inner, 2, variant.toString('base64url'));
          expect((await errorOf(open(await encryptToKz(changed), kzRing, profile))).code).to.equal(
            'crypto.bad_signature',
          );
        }
      });

      it('refuses this pair when the config does not allow its algorithms (crypto.alg_not_allowed)', async () => {
        const narrow: CryptoProfile = {
          ...profile,
          signatureAlgs: profile.signatureAlgs.filter((a) => a !== p.sig),
          keyEncryptionAlgs: profile.keyEncryptionAlgs.filter((a) => a !== p.enc),
        };
        expect(await errorOf(open(jwe, kzRing, narrow))).to.include({
          code: 'crypto.alg_not_allowed',
          path: 'jwe.alg',
        });
        const onlyEnc: CryptoProfile = {
          ...profile,
          signatureAlgs: profile.signatureAlgs.filter((a) => a !== p.sig),
        };
        expect(await errorOf(open(jwe, kzRing, onlyEnc))).to.include({
          code: 'crypto.alg_not_allowed',
          path: 'jws.alg',
        });
      });

      it('refuses a layer that names no kid as crypto.unknown_kid (keys are chosen by kid only)', async () => {
        const outer = await errorOf(
          open(
            withHeader(jwe, (h) => delete h.kid),
            kzRing,
            profile,
          ),
        );
        expect(outer.code).to.equal('crypto.unknown_kid');
        const inner = withHeader(await innerOf(jwe), (h) => delete h.kid);
        expect((await errorOf(open(await encryptToKz(inner), kzRing, profile))).code).to.equal(
          'crypto.unknown_kid',
        );
      });

      it('refuses the other key-encryption algorithm named for this key (key/alg confusion)', async () => {
        const other = p.enc === 'RSA-OAEP-256' ? 'ECDH-ES+A256KW' : 'RSA-OAEP-256';
        const err = await errorOf(
          open(
            withHeader(jwe, (h) => (h.alg = other)),
            kzRing,
            profile,
          ),
        );
        expect(err).to.include({ code: 'crypto.alg_not_allowed', path: 'jwe.alg' });
      });

      if (p.enc === 'RSA-OAEP-256') {
        it('refuses RSA-OAEP (SHA-1) and RSA1_5 as crypto.alg_not_allowed', async () => {
          for (const alg of ['RSA-OAEP', 'RSA1_5']) {
            const err = await errorOf(
              open(
                withHeader(jwe, (h) => (h.alg = alg)),
                kzRing,
                profile,
              ),
            );
            expect(err, alg).to.include({ code: 'crypto.alg_not_allowed', path: 'jwe.alg' });
          }
        });

        it('refuses an epk in an RSA-OAEP-256 header as crypto.header_invalid', async () => {
          const epk = {
            kty: 'EC',
            crv: 'P-256',
            x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
            y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
          };
          const err = await errorOf(
            open(
              withHeader(jwe, (h) => (h.epk = epk)),
              kzRing,
              profile,
            ),
          );
          expect(err).to.include({ code: 'crypto.header_invalid', path: 'jwe.epk' });
        });

        it('refuses an empty encrypted key as crypto.malformed', async () => {
          expect((await errorOf(open(replacePart(jwe, 1, ''), kzRing, profile))).code).to.equal(
            'crypto.malformed',
          );
        });
      }

      if (p.crv === 'P-384') {
        it('refuses an epk on P-256 for a P-384 key as crypto.header_invalid', async () => {
          const { privateKey } = await promisify(generateKeyPair)('ec', { namedCurve: 'prime256v1' });
          const { x, y } = privateKey.export({ format: 'jwk' });
          const err = await errorOf(
            open(
              withHeader(jwe, (h) => (h.epk = { kty: 'EC', crv: 'P-256', x, y })),
              kzRing,
              profile,
            ),
          );
          expect(err).to.include({ code: 'crypto.header_invalid', path: 'jwe.epk' });
        });

        it('refuses a P-384 epk off the curve as crypto.header_invalid', async () => {
          const err = await errorOf(
            open(
              withHeader(jwe, (h) => {
                const y = Buffer.from(h.epk.y as string, 'base64url');
                y[47] = y[47]! ^ 1;
                h.epk.y = y.toString('base64url');
              }),
              kzRing,
              profile,
            ),
          );
          expect(err).to.include({ code: 'crypto.header_invalid', path: 'jwe.epk' });
        });
      }

      if (p.sig === 'PS256') {
        it('refuses an RS256 (PKCS #1 v1.5) signature by the same RSA key as crypto.alg_not_allowed', async () => {
          const { alg: _alg, ...noAlg } = czSig;
          const key = await jose.JWK.asKey(noAlg);
          const rs256 = (await jose.JWS.createSign({ format: 'compact', fields: { typ: TYP_JWS } }, {
            key,
            reference: 'kid',
            header: { alg: 'RS256' },
          } as unknown as jose.JWK.Key)
            .update(payload)
            .final()) as unknown as string;
          const err = await errorOf(open(await encryptToKz(rs256), kzRing, profile));
          expect(err).to.include({ code: 'crypto.alg_not_allowed', path: 'jws.alg' });
        });
      }
    });
  }
});
