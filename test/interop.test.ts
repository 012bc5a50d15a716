/**
 * A second implementation (DESIGN §7): panva `jose` opens what Accord seals, and Accord opens what
 * `jose` seals in Accord's profile — a compact JWS of type `accord-envelope+jws` nested in a compact JWE
 * of type `accord-message+jwe` — for each allowed pair: ES256 and PS256 signatures × ECDH-ES+A256KW on
 * P-256 and on P-384, and RSA-OAEP-256; all with A256GCM.
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { CompactEncrypt, CompactSign, compactDecrypt, compactVerify, importJWK, type JWK } from 'jose';
import { generatePartyKeys, publicHalf } from '../src/crypto/keygen.js';
import type { PrivateJwk } from '../src/crypto/jwk.js';
import { KeyRing } from '../src/crypto/keyring.js';
import { open } from '../src/crypto/open.js';
import { CTY_JWE, FULL_PROFILE, TYP_JWE, TYP_JWS, type CryptoProfile } from '../src/crypto/profile.js';
import { seal } from '../src/crypto/seal.js';
import { expectCode } from './helpers/expect-code.js';

/** An envelope-like payload with non-ASCII text, so that byte fidelity is checked too. */
const payload = Buffer.from(
  JSON.stringify({
    v: 1,
    kind: 'request',
    from: { party: 'CZ', authority: 'cz-pp-ipc' },
    to: { party: 'KZ', authority: 'kz-mia' },
    body: { summary: 'Ověření pasu – проверка паспорта' },
  }),
);

const profile: CryptoProfile = FULL_PROFILE;

interface Pair {
  name: string;
  sig: 'ES256' | 'PS256';
  enc: 'ECDH-ES+A256KW' | 'RSA-OAEP-256';
  crv?: 'P-256' | 'P-384';
}

const PAIRS: Pair[] = [];
for (const sig of ['ES256', 'PS256'] as const) {
  PAIRS.push({ name: `${sig} + ECDH-ES+A256KW (P-256)`, sig, enc: 'ECDH-ES+A256KW', crv: 'P-256' });
  PAIRS.push({ name: `${sig} + ECDH-ES+A256KW (P-384)`, sig, enc: 'ECDH-ES+A256KW', crv: 'P-384' });
  PAIRS.push({ name: `${sig} + RSA-OAEP-256`, sig, enc: 'RSA-OAEP-256' });
}

type Sets = { privateSet: { keys: PrivateJwk[] } };

/** One party's key pool: a key of every kind, so that each pair is a choice of two. */
async function pool(party: string): Promise<Record<string, PrivateJwk>> {
  const kinds = [
    { sig: 'ES256', enc: 'ECDH-ES+A256KW', crv: 'P-256' },
    { sig: 'PS256', enc: 'ECDH-ES+A256KW', crv: 'P-384' },
    { sig: 'ES256', enc: 'RSA-OAEP-256' },
  ] as const;
  const out: Record<string, PrivateJwk> = {};
  for (const k of kinds) {
    // 2048-bit RSA keeps the suite fast; it is the least Accord accepts.
    const { privateSet } = (await generatePartyKeys(party, { ...k, rsaBits: 2048 })) as Sets;
    for (const key of privateSet.keys) {
      const slot = key.use === 'sig' ? key.alg : key.kty === 'EC' ? `${key.alg} ${key.crv}` : key.alg;
      out[slot] ??= key;
    }
  }
  return out;
}

const slotOf = (p: Pair) => (p.enc === 'RSA-OAEP-256' ? p.enc : `${p.enc} ${p.crv}`);

describe('interop with panva jose', function () {
  this.timeout(60_000);
  let cz: Record<string, PrivateJwk>;
  let kz: Record<string, PrivateJwk>;
  const matrix: string[] = [];

  before(async () => {
    cz = await pool('CZ');
    kz = await pool('KZ');
  });

  after(() => {
    for (const line of matrix) console.log(`      ${line}`);
  });

  /** The rings of one pair: CZ signs with `sig` and seals to KZ's `enc` key; KZ the reverse. */
  async function rings(p: Pair) {
    const czSig = cz[p.sig]!;
    const czEnc = cz[slotOf(p)]!;
    const kzSig = kz[p.sig]!;
    const kzEnc = kz[slotOf(p)]!;
    const czRing = await KeyRing.fromSets({ keys: [czSig, czEnc] }, { keys: [kzSig, kzEnc].map(publicHalf) });
    const kzRing = await KeyRing.fromSets({ keys: [kzSig, kzEnc] }, { keys: [czSig, czEnc].map(publicHalf) });
    return { czRing, kzRing, czSig, kzEnc };
  }

  for (const p of PAIRS) {
    describe(p.name, () => {
      it('Accord seals, jose opens (compactDecrypt, then compactVerify), headers as Accord’s profile says', async () => {
        const { czRing, czSig, kzEnc } = await rings(p);
        const jwe = await seal(payload, czRing, profile);

        const decrypted = await compactDecrypt(jwe, await importJWK(kzEnc as JWK, kzEnc.alg), {
          keyManagementAlgorithms: [p.enc],
          contentEncryptionAlgorithms: ['A256GCM'],
        });
        expect(decrypted.protectedHeader).to.include({
          alg: p.enc,
          enc: 'A256GCM',
          typ: TYP_JWE,
          cty: CTY_JWE,
          kid: kzEnc.kid,
        });
        if (p.enc === 'ECDH-ES+A256KW')
          expect((decrypted.protectedHeader.epk as { crv?: string } | undefined)?.crv).to.equal(p.crv);
        else expect(decrypted.protectedHeader).not.to.have.property('epk');

        const jws = new TextDecoder().decode(decrypted.plaintext);
        const verified = await compactVerify(jws, await importJWK(publicHalf(czSig) as JWK, p.sig), {
          algorithms: [p.sig],
        });
        expect(verified.protectedHeader).to.deep.equal({ alg: p.sig, kid: czSig.kid, typ: TYP_JWS });
        expect(Buffer.from(verified.payload).equals(payload)).to.equal(true);
        matrix.push(`interop ${p.name.padEnd(34)} Accord → jose: opened`);
      });

      it('jose seals in Accord’s profile, Accord’s open() opens it and reports the same facts', async () => {
        const { kzRing, czSig, kzEnc } = await rings(p);
        const jws = await new CompactSign(payload)
          .setProtectedHeader({ alg: p.sig, kid: czSig.kid, typ: TYP_JWS })
          .sign(await importJWK(czSig as JWK, p.sig));
        const jwe = await new CompactEncrypt(new TextEncoder().encode(jws))
          .setProtectedHeader({ alg: p.enc, enc: 'A256GCM', kid: kzEnc.kid, typ: TYP_JWE, cty: CTY_JWE })
          .encrypt(await importJWK(publicHalf(kzEnc) as JWK, p.enc));

        const { payload: opened, facts } = await open(jwe, kzRing, profile);
        expect(opened.equals(payload)).to.equal(true);
        expect(facts).to.deep.equal({
          jweSha256: createHash('sha256').update(jwe).digest('hex'),
          encryptionKid: kzEnc.kid,
          signatureKid: czSig.kid,
          signatureAlg: p.sig,
          keyEncryptionAlg: p.enc,
          contentEncryptionAlg: 'A256GCM',
        });
        matrix.push(`interop ${p.name.padEnd(34)} jose → Accord: opened`);
      });
    });
  }

  describe('what jose seals outside Accord’s profile, Accord refuses', () => {
    /** A jose-made message with the given header changes, opened by Accord. */
    async function refusal(change: { jwe?: Record<string, unknown>; jws?: Record<string, unknown> }) {
      const p = PAIRS[0]!;
      const { kzRing, czSig, kzEnc } = await rings(p);
      const jws = await new CompactSign(payload)
        .setProtectedHeader({ alg: p.sig, kid: czSig.kid, typ: TYP_JWS, ...change.jws })
        .sign(await importJWK(czSig as JWK, p.sig));
      const jwe = await new CompactEncrypt(new TextEncoder().encode(jws))
        .setProtectedHeader({
          alg: p.enc,
          enc: 'A256GCM',
          kid: kzEnc.kid,
          typ: TYP_JWE,
          cty: CTY_JWE,
          ...change.jwe,
        })
        .encrypt(await importJWK(publicHalf(kzEnc) as JWK, p.enc));
      return expectCode(open(jwe, kzRing, profile));
    }

    it('a JWE typed JWT: crypto.header_invalid at jwe.typ', async () => {
      expect(await refusal({ jwe: { typ: 'JWT' } })).to.include({
        code: 'crypto.header_invalid',
        path: 'jwe.typ',
      });
    });

    it('an inner JWS without typ: crypto.header_invalid at jws.typ', async () => {
      expect(await refusal({ jws: { typ: undefined } })).to.include({
        code: 'crypto.header_invalid',
        path: 'jws.typ',
      });
    });

    it('a JWE with A128GCM content encryption: crypto.alg_not_allowed at jwe.enc', async () => {
      expect(await refusal({ jwe: { enc: 'A128GCM' } })).to.include({
        code: 'crypto.alg_not_allowed',
        path: 'jwe.enc',
      });
    });

    it('an extra protected header parameter: crypto.header_invalid at that parameter', async () => {
      expect(await refusal({ jwe: { 'x-trace': 'abc' } })).to.include({
        code: 'crypto.header_invalid',
        path: 'jwe.x-trace',
      });
    });
  });
});
