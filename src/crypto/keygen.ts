/**
 * Key generation with node:crypto. Uses the asynchronous `generateKeyPair`: on Node 20.20 the `Sync`
 * variant was seen to deadlock during garbage collection (issue 2, measured on this kind of machine).
 */
import { createHash, generateKeyPair, type JsonWebKey } from 'node:crypto';
import { promisify } from 'node:util';
import type { PrivateJwk, PublicJwk } from './jwk.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/** RFC 7638 JWK thumbprint (SHA-256, base64url) of an EC key. */
export function thumbprint(jwk: { crv: string; kty: string; x: string; y: string }): string {
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  return createHash('sha256').update(canonical).digest('base64url');
}

/** A fresh P-256 key pair as a private JWK (no kid/use/alg yet). */
export async function generateP256(): Promise<Required<Pick<JsonWebKey, 'kty' | 'crv' | 'x' | 'y' | 'd'>>> {
  const { privateKey } = await generateKeyPairAsync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' });
  if (!jwk.kty || !jwk.crv || !jwk.x || !jwk.y || !jwk.d) throw new Error('key export failed');
  return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, d: jwk.d };
}

/** A party's key set: one ES256 signing key and one ECDH-ES+A256KW encryption key. */
export async function generatePartyKeys(
  party: string,
  now: Date = new Date(),
): Promise<{ privateSet: { keys: PrivateJwk[] }; publicSet: { keys: PublicJwk[] } }> {
  const iat = Math.floor(now.getTime() / 1000);
  const make = async (use: 'sig' | 'enc'): Promise<PrivateJwk> => {
    const k = await generateP256();
    const alg = use === 'sig' ? 'ES256' : 'ECDH-ES+A256KW';
    const kid = `${party.toLowerCase()}-${use}-${thumbprint(k).slice(0, 16)}`;
    return { kty: 'EC', crv: 'P-256', x: k.x, y: k.y, d: k.d, kid, use, alg, iat };
  };
  const keys = [await make('sig'), await make('enc')];
  const publicKeys = keys.map(({ d: _d, ...pub }) => pub);
  return { privateSet: { keys }, publicSet: { keys: publicKeys } };
}
