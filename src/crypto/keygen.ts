/**
 * Key generation with node:crypto. Uses the asynchronous `generateKeyPair`: on Node 20.20 the `Sync`
 * variant was seen to deadlock during garbage collection (measured on this kind of machine).
 */
import { createHash, generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import type { PrivateJwk, PublicJwk } from './jwk.js';
import type { EcdhCurve, KeyEncryptionAlg, SignatureAlg } from './profile.js';

const generateKeyPairAsync = promisify(generateKeyPair);
const OPENSSL_CURVE: Record<EcdhCurve, string> = { 'P-256': 'prime256v1', 'P-384': 'secp384r1' };

/** RFC 7638 JWK thumbprint (SHA-256, base64url): only the required members, in lexicographic order. */
export function thumbprint(
  jwk: { kty: 'EC'; crv: string; x: string; y: string } | { kty: 'RSA'; n: string; e: string },
): string {
  const canonical =
    jwk.kty === 'EC'
      ? JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })
      : JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n });
  return createHash('sha256').update(canonical).digest('base64url');
}

type EcMaterial = { kty: 'EC'; crv: EcdhCurve; x: string; y: string; d: string };
type RsaMaterial = {
  kty: 'RSA';
  n: string;
  e: string;
  d: string;
  p: string;
  q: string;
  dp: string;
  dq: string;
  qi: string;
};

/** A fresh EC key pair on `crv` as private JWK members (no kid/use/alg yet). */
export async function generateEc(crv: EcdhCurve): Promise<EcMaterial> {
  const { privateKey } = await generateKeyPairAsync('ec', { namedCurve: OPENSSL_CURVE[crv] });
  const jwk = privateKey.export({ format: 'jwk' });
  if (!jwk.x || !jwk.y || !jwk.d) throw new Error('key export failed');
  return { kty: 'EC', crv, x: jwk.x, y: jwk.y, d: jwk.d };
}

/** A fresh P-256 key pair as private JWK members (no kid/use/alg yet). */
export async function generateP256(): Promise<EcMaterial> {
  return generateEc('P-256');
}

/** A fresh RSA key pair (public exponent 65537) as private JWK members (no kid/use/alg yet). */
export async function generateRsa(bits: number): Promise<RsaMaterial> {
  const { privateKey } = await generateKeyPairAsync('rsa', { modulusLength: bits, publicExponent: 0x10001 });
  const j = privateKey.export({ format: 'jwk' });
  if (!j.n || !j.e || !j.d || !j.p || !j.q || !j.dp || !j.dq || !j.qi) throw new Error('key export failed');
  return { kty: 'RSA', n: j.n, e: j.e, d: j.d, p: j.p, q: j.q, dp: j.dp, dq: j.dq, qi: j.qi };
}

/** Which keys a party generates; every member defaults to Accord's default profile. */
export interface KeyChoice {
  /** Signature algorithm. @defaultValue ES256 */
  sig?: SignatureAlg;
  /** Key-encryption algorithm. @defaultValue ECDH-ES+A256KW */
  enc?: KeyEncryptionAlg;
  /** Curve of an ECDH-ES+A256KW key. @defaultValue P-256 */
  crv?: EcdhCurve;
  /** Modulus size of RSA keys, in bits. @defaultValue 3072 */
  rsaBits?: number;
}

/**
 * A party's key set: one signing key and one encryption key, by default ES256 and ECDH-ES+A256KW on
 * P-256. New RSA keys get 3072 bits (NIST's size for use beyond 2030); 2048 is the least Accord accepts.
 */
export async function generatePartyKeys(
  party: string,
  choice: KeyChoice = {},
  now: Date = new Date(),
): Promise<{ privateSet: { keys: PrivateJwk[] }; publicSet: { keys: PublicJwk[] } }> {
  const iat = Math.floor(now.getTime() / 1000);
  const sig = choice.sig ?? 'ES256';
  const enc = choice.enc ?? 'ECDH-ES+A256KW';
  const rsaBits = choice.rsaBits ?? 3072;
  const kidOf = (use: 'sig' | 'enc', material: EcMaterial | RsaMaterial) =>
    `${party.toLowerCase()}-${use}-${thumbprint(material).slice(0, 16)}`;

  const sigKey: PrivateJwk =
    sig === 'ES256'
      ? await generateP256().then((m) => ({ ...m, kid: kidOf('sig', m), use: 'sig' as const, alg: sig, iat }))
      : await generateRsa(rsaBits).then((m) => ({
          ...m,
          kid: kidOf('sig', m),
          use: 'sig' as const,
          alg: sig,
          iat,
        }));
  const encKey: PrivateJwk =
    enc === 'ECDH-ES+A256KW'
      ? await generateEc(choice.crv ?? 'P-256').then((m) => ({
          ...m,
          kid: kidOf('enc', m),
          use: 'enc' as const,
          alg: enc,
          iat,
        }))
      : await generateRsa(rsaBits).then((m) => ({
          ...m,
          kid: kidOf('enc', m),
          use: 'enc' as const,
          alg: enc,
          iat,
        }));
  const keys = [sigKey, encKey];
  return { privateSet: { keys }, publicSet: { keys: keys.map(publicHalf) } };
}

/** The public half of a private JWK: every private member removed. */
export function publicHalf(key: PrivateJwk): PublicJwk {
  if (key.kty === 'EC') {
    const { d: _d, ...pub } = key;
    return pub;
  }
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub } = key;
  return pub;
}
