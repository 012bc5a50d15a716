/**
 * Art. 10(6): audit checkpoints are compact JWS signed with the gateway's own signing key (the key
 * that signs its messages), typed so that a checkpoint cannot pass for a message or the other way round.
 */
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

export function checkpointVerifier(keys: KeyRing, profile: CryptoProfile): CheckpointVerifier {
  return async (jws) =>
    (await verifyJws(jws, keys.ownSignatureLookup, profile, { typ: TYP_CHECKPOINT })).payload;
}
