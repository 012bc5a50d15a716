/**
 * seal = JWS (compact, one signature, protected header only) over the envelope bytes, then JWE
 * (compact) of that JWS to the peer gateway's encryption key (DESIGN §2).
 */
import { AccordError } from '../errors.js';
import type { KeyRing } from './keyring.js';
import { encryptCompact, privateKeyOf, publicKeyOf, signCompact } from './native.js';
import { randomUUID } from 'node:crypto';
import { leafHash, merkleRoot } from './merkle.js';
import { CTY_JWE, CTY_TRANSFER, TYP_JWE, TYP_JWS, TYP_TRANSFER_ROOT, type CryptoProfile } from './profile.js';

/**
 * Sign then encrypt the envelope bytes; returns the JWE compact string. The operations run on
 * node:crypto (native.ts); node-jose's JavaScript layer sealed ~250/s here.
 */
// eslint-disable-next-line @typescript-eslint/require-await -- synchronous inside since the ECDH class; callers (the pool, its workers, the CLI) take a promise, and a refusal stays a rejection
export async function seal(payload: Buffer, keys: KeyRing, profile: CryptoProfile): Promise<string> {
  const { sigKey, encKey, sigAlg, encAlg } = checkedKeys(keys, profile);
  const jws = signCompact(payload, { typ: TYP_JWS, alg: sigAlg, kid: sigKey.kid }, privateKeyOf(sigKey));
  return encryptCompact(Buffer.from(jws, 'ascii'), encAlg, publicKeyOf(encKey), {
    kid: encKey.kid,
    typ: TYP_JWE,
    cty: CTY_JWE,
  });
}

const isKeyEncryptionAlg = (a: string): a is 'ECDH-ES+A256KW' | 'RSA-OAEP-256' =>
  a === 'ECDH-ES+A256KW' || a === 'RSA-OAEP-256';

/** The keys in force for sealing, checked against the profile. */
function checkedKeys(keys: KeyRing, profile: CryptoProfile) {
  const sigKey = keys.signingKey;
  const encKey = keys.peerEncryptionKey;
  const sigAlg = String(sigKey.alg);
  const encAlg = String(encKey.alg);
  const contentAlg = profile.contentEncryptionAlgs[0] ?? 'A256GCM';
  if (!profile.signatureAlgs.includes(sigAlg) || (sigAlg !== 'ES256' && sigAlg !== 'PS256')) {
    throw new AccordError('crypto.alg_not_allowed', `own signing key algorithm ${sigAlg} is not allowed`);
  }
  if (!profile.keyEncryptionAlgs.includes(encAlg) || !isKeyEncryptionAlg(encAlg)) {
    throw new AccordError('crypto.alg_not_allowed', `peer encryption key algorithm ${encAlg} is not allowed`);
  }
  if (contentAlg !== 'A256GCM') {
    throw new AccordError('crypto.alg_not_allowed', `content encryption ${contentAlg} is not implemented`);
  }
  return { sigKey, encKey, sigAlg, encAlg: encAlg };
}

/** A sealed transfer: the JWE, its id and root, and each member's leaf hash (what its receipt names). */
export interface SealedTransfer {
  jwe: string;
  transfer: string;
  root: string;
  leaves: string[];
}

/**
 * Seal several envelopes (their JSON texts) into one transfer (wire version 2, docs/protocol.md
 * "Transfers"): one signature over the Merkle root of the members, one encryption of the statement
 * and the members together.
 */
// eslint-disable-next-line @typescript-eslint/require-await -- as seal
export async function sealTransfer(
  members: readonly string[],
  meta: { createdAt: string; transfer?: string },
  keys: KeyRing,
  profile: CryptoProfile,
): Promise<SealedTransfer> {
  const { sigKey, encKey, sigAlg, encAlg } = checkedKeys(keys, profile);
  const leaves = members.map((m) => leafHash(Buffer.from(m, 'utf8')));
  const root = merkleRoot(leaves).toString('hex');
  const transfer = meta.transfer ?? randomUUID();
  const statement = { v: 2, transfer, createdAt: meta.createdAt, count: members.length, root };
  const jws = signCompact(
    Buffer.from(JSON.stringify(statement)),
    { typ: TYP_TRANSFER_ROOT, alg: sigAlg, kid: sigKey.kid },
    privateKeyOf(sigKey),
  );
  const plaintext = Buffer.from(JSON.stringify({ v: 2, statement: jws, members }));
  const jwe = encryptCompact(plaintext, encAlg, publicKeyOf(encKey), {
    kid: encKey.kid,
    typ: TYP_JWE,
    cty: CTY_TRANSFER,
  });
  return { jwe, transfer, root, leaves: leaves.map((l) => l.toString('hex')) };
}
