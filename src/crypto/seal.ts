/**
 * seal = JWS (compact, one signature, protected header only) over the envelope bytes, then JWE
 * (compact) of that JWS to the peer gateway's encryption key (DESIGN §2).
 */
import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import jose from 'node-jose';
import { AccordError } from '../errors.js';
import type { KeyRing } from './keyring.js';
import { CTY_JWE, TYP_JWE, TYP_JWS, type CryptoProfile } from './profile.js';

const generateKeyPairAsync = promisify(generateKeyPair);
const NAMED_CURVE: Record<string, string> = { 'P-256': 'prime256v1', 'P-384': 'secp384r1' };

/**
 * node-jose makes ECDH-ES ephemeral keys in pure JavaScript (~84 seals/s measured); a key from
 * node:crypto's asynchronous generator is ~5x faster and never blocks on the Sync variant's deadlock.
 */
async function ephemeralKey(crv: string): Promise<object> {
  const namedCurve = NAMED_CURVE[crv];
  if (!namedCurve) throw new AccordError('crypto.alg_not_allowed', `no ephemeral keys for curve ${crv}`);
  const { privateKey } = await generateKeyPairAsync('ec', { namedCurve });
  return privateKey.export({ format: 'jwk' });
}

/** Sign then encrypt the envelope bytes; returns the JWE compact string. */
export async function seal(payload: Buffer, keys: KeyRing, profile: CryptoProfile): Promise<string> {
  const sigKey = keys.signingKey;
  const encKey = keys.peerEncryptionKey;
  const sigAlg = String(sigKey.alg);
  const encAlg = String(encKey.alg);
  const contentAlg = profile.contentEncryptionAlgs[0] ?? 'A256GCM';
  if (!profile.signatureAlgs.includes(sigAlg)) {
    throw new AccordError('crypto.alg_not_allowed', `own signing key algorithm ${sigAlg} is not allowed`);
  }
  if (!profile.keyEncryptionAlgs.includes(encAlg)) {
    throw new AccordError('crypto.alg_not_allowed', `peer encryption key algorithm ${encAlg} is not allowed`);
  }

  // With format 'compact' node-jose resolves to the compact string (its typings say otherwise).
  const jws = (await jose.JWS.createSign(
    { format: 'compact', fields: { typ: TYP_JWS } },
    // The typings miss the signatory form {key, reference, header} that node-jose accepts.
    { key: sigKey, reference: 'kid', header: { alg: sigAlg } } as unknown as jose.JWK.Key,
  )
    .update(payload)
    .final()) as unknown as string;

  const recipient: Record<string, unknown> = { key: encKey, reference: 'kid', header: { alg: encAlg } };
  // ECDH-ES needs an ephemeral key on the curve of the peer's key (P-256 or P-384); RSA-OAEP-256 none.
  if (encAlg.startsWith('ECDH-ES'))
    recipient.epk = await ephemeralKey(String((encKey.toJSON() as { crv?: string }).crv));
  const jwe = await jose.JWE.createEncrypt(
    { format: 'compact', contentAlg, fields: { typ: TYP_JWE, cty: CTY_JWE } },
    recipient as unknown as jose.JWK.Key,
  )
    .update(jws)
    .final();
  return String(jwe);
}
