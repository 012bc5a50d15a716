/**
 * Art. 10(6): audit checkpoints are compact JWS signed with the gateway's own signing key (the key
 * that signs its messages), typed so that a checkpoint cannot pass for a message or the other way round.
 */
import type { PublicJwk } from '../crypto/jwk.js';
import type { KeyRing } from '../crypto/keyring.js';
import { privateKeyOf, signCompact } from '../crypto/native.js';
import { verifyJws } from '../crypto/open.js';
import type { CryptoProfile } from '../crypto/profile.js';
import type { CheckpointSigner, CheckpointVerifier } from './log.js';

export const TYP_CHECKPOINT = 'accord-audit-checkpoint+jws';

export function checkpointSigner(keys: KeyRing): CheckpointSigner {
  return (payload) => {
    const key = keys.signingKey;
    return Promise.resolve(
      signCompact(payload, { typ: TYP_CHECKPOINT, alg: String(key.alg), kid: key.kid }, privateKeyOf(key)),
    );
  };
}

/**
 * Verifies each checkpoint with the key that signed it (its `kid`): one of the own signing keys, or one
 * of `earlier` — the key history of every own signing key ever used (crypto/key-history.ts) and keys
 * an operator supplies — so a log spanning rotations verifies after the old keys were pruned. A kid
 * none of them holds fails with `crypto.unknown_kid`, which `verifyAuditFile` tells apart from a
 * signature that does not verify.
 */
export async function checkpointVerifier(
  keys: KeyRing,
  profile: CryptoProfile,
  earlier: readonly PublicJwk[] = [],
): Promise<CheckpointVerifier> {
  const lookup = earlier.length === 0 ? keys.ownSignatureLookup : await keys.ownSignatureLookupWith(earlier);
  return async (jws) => (await verifyJws(jws, lookup, profile, { typ: TYP_CHECKPOINT })).payload;
}
