/**
 * Sealing as a peer gateway does (docs/protocol.md, section 2), with the one deviation a vector class
 * asks for: a protected-header parameter added, another signing key, a part re-encoded, padding. The
 * vector generator (fixed keys, fixed time) and the conformance kit (the kit's keys, the current time)
 * both seal through here, so a class is one definition for both.
 */
import { createPrivateKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import type { KeyRing } from '../crypto/keyring.js';
import { encryptCompact, privateKeyOf, publicKeyOf, signCompact } from '../crypto/native.js';
import { CTY_JWE, TYP_JWE, TYP_JWS } from '../crypto/profile.js';
import type { PrivateJwk } from '../crypto/jwk.js';

/** What a class may change in the sealing of an otherwise correct message. */
export interface SealDeviation {
  /** Parameters added to the JWE protected header (they are authenticated: the JWE still decrypts). */
  jweHeader?: Record<string, unknown>;
  /** Parameters added to the JWS protected header (signed over: the signature still verifies). */
  jwsHeader?: Record<string, unknown>;
  /** Sign with this key (e.g. one the receiver has not pinned) instead of the sender's own. */
  signWith?: PrivateJwk;
  /** ASCII whitespace appended to the envelope's JSON, to make a message larger than a limit. */
  padBytes?: number;
}

/** The sender's keys, as a peer gateway holds them: its signing key, the receiver's encryption key. */
export interface Sealer {
  /** Seal the envelope's JSON (sign, then encrypt), with a deviation if given. */
  seal(envelope: object, deviation?: SealDeviation): string;
}

/** A sealer over a loaded key ring: own signing key, the peer's encryption key. */
export function sealerFor(ring: KeyRing): Sealer {
  const sigKey = ring.signingKey;
  const encKey = ring.peerEncryptionKey;
  return {
    seal(envelope, deviation = {}) {
      let signer: { kid: string; alg: string; key: KeyObject } = {
        kid: sigKey.kid,
        alg: String(sigKey.alg),
        key: privateKeyOf(sigKey),
      };
      if (deviation.signWith) {
        const jwk = deviation.signWith;
        signer = {
          kid: jwk.kid,
          alg: String(jwk.alg),
          key: createPrivateKey({ key: jwk as unknown as JsonWebKey, format: 'jwk' }),
        };
      }
      const json = JSON.stringify(envelope) + ' '.repeat(deviation.padBytes ?? 0);
      const jws = signCompact(
        Buffer.from(json, 'utf8'),
        { typ: TYP_JWS, alg: signer.alg, kid: signer.kid, ...deviation.jwsHeader },
        signer.key,
      );
      const encAlg = String(encKey.alg) as 'ECDH-ES+A256KW' | 'RSA-OAEP-256';
      return encryptCompact(Buffer.from(jws, 'ascii'), encAlg, publicKeyOf(encKey), {
        kid: encKey.kid,
        typ: TYP_JWE,
        cty: CTY_JWE,
        ...deviation.jweHeader,
      });
    },
  };
}

/**
 * The same JWE with its authentication tag written non-canonically: the last base64url character
 * changed so that its unused low bits are not zero. It decodes to the same bytes, so a receiver that
 * does not check the encoding would take it in ([P-JOSE-2]).
 */
export function nonCanonical(jwe: string): string {
  const parts = jwe.split('.');
  const tag = parts[4] ?? '';
  // A 16-byte tag is 22 characters; the last carries 2 bits of data and 4 unused bits.
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const last = alphabet.indexOf(tag.slice(-1));
  parts[4] = tag.slice(0, -1) + alphabet[last | 1];
  if (parts[4] === tag) parts[4] = tag.slice(0, -1) + alphabet[(last & ~15) | 2];
  return parts.join('.');
}
