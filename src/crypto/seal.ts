/**
 * seal = JWS (compact, one signature, protected header only) over the envelope bytes, then JWE
 * (compact) of that JWS to the peer gateway's encryption key (DESIGN §2).
 */
import { AccordError } from '../errors.js';
import type { KeyRing } from './keyring.js';
import { encryptCompact, privateKeyOf, publicKeyOf, signCompact } from './native.js';
import { CTY_JWE, TYP_JWE, TYP_JWS, type CryptoProfile } from './profile.js';

/**
 * Sign then encrypt the envelope bytes; returns the JWE compact string. The operations run on
 * node:crypto (native.ts); node-jose's JavaScript layer sealed ~250/s here.
 */
// eslint-disable-next-line @typescript-eslint/require-await -- synchronous inside since the ECDH class; callers (the pool, its workers, the CLI) take a promise, and a refusal stays a rejection
export async function seal(payload: Buffer, keys: KeyRing, profile: CryptoProfile): Promise<string> {
  const sigKey = keys.signingKey;
  const encKey = keys.peerEncryptionKey;
  const sigAlg = String(sigKey.alg);
  const encAlg = String(encKey.alg);
  const contentAlg = profile.contentEncryptionAlgs[0] ?? 'A256GCM';
  if (!profile.signatureAlgs.includes(sigAlg) || (sigAlg !== 'ES256' && sigAlg !== 'PS256')) {
    throw new AccordError('crypto.alg_not_allowed', `own signing key algorithm ${sigAlg} is not allowed`);
  }
  if (
    !profile.keyEncryptionAlgs.includes(encAlg) ||
    (encAlg !== 'ECDH-ES+A256KW' && encAlg !== 'RSA-OAEP-256')
  ) {
    throw new AccordError('crypto.alg_not_allowed', `peer encryption key algorithm ${encAlg} is not allowed`);
  }
  if (contentAlg !== 'A256GCM') {
    throw new AccordError('crypto.alg_not_allowed', `content encryption ${contentAlg} is not implemented`);
  }
  const jws = signCompact(payload, { typ: TYP_JWS, alg: sigAlg, kid: sigKey.kid }, privateKeyOf(sigKey));
  return encryptCompact(Buffer.from(jws, 'ascii'), encAlg, publicKeyOf(encKey), {
    kid: encKey.kid,
    typ: TYP_JWE,
    cty: CTY_JWE,
  });
}
