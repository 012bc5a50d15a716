/** Accord's JOSE profile: media types, the algorithms Accord implements, and what the config allows. */

/** `typ` of the inner JWS: a signed Accord envelope. */
export const TYP_JWS = 'accord-envelope+jws';
/** `typ` of the outer JWE: a sealed Accord message. */
export const TYP_JWE = 'accord-message+jwe';
/** `cty` of the JWE: its plaintext is the signed envelope. */
export const CTY_JWE = TYP_JWS;
/** `typ` of a private JWK Set encrypted with a passphrase (keys at rest). */
export const TYP_JWKS = 'accord-jwks+jwe';
/** `cty` of an encrypted JWK Set: its plaintext is a JWK Set (RFC 7517 §8.5.1, `application/` omitted). */
export const CTY_JWKS = 'jwk-set+json';

/** Signature algorithms Accord implements; a config allows a subset. */
export const SIGNATURE_ALGS = ['ES256', 'PS256'] as const;
/** Key-encryption algorithms Accord implements; a config allows a subset. */
export const KEY_ENCRYPTION_ALGS = ['ECDH-ES+A256KW', 'RSA-OAEP-256'] as const;
/** Content-encryption algorithms Accord implements. */
export const CONTENT_ENCRYPTION_ALGS = ['A256GCM'] as const;
/** Curves of ECDH-ES+A256KW keys (ES256 keys are always P-256). */
export const ECDH_CURVES = ['P-256', 'P-384'] as const;

export type SignatureAlg = (typeof SIGNATURE_ALGS)[number];
export type KeyEncryptionAlg = (typeof KEY_ENCRYPTION_ALGS)[number];
export type EcdhCurve = (typeof ECDH_CURVES)[number];

/** Smallest RSA modulus Accord accepts, in bits (NIST SP 800-131A). */
export const MIN_RSA_BITS = 2048;

/** The algorithm allow-lists and size limit, from the config's `crypto` section. */
export interface CryptoProfile {
  readonly signatureAlgs: readonly string[];
  readonly keyEncryptionAlgs: readonly string[];
  readonly contentEncryptionAlgs: readonly string[];
  readonly maxMessageBytes: number;
}

/**
 * Everything Accord implements, for tools that work without a gateway config (`accord envelope`): the
 * widest allow-list a config can name, and the config's default size limit.
 */
export const FULL_PROFILE: CryptoProfile = {
  signatureAlgs: SIGNATURE_ALGS,
  keyEncryptionAlgs: KEY_ENCRYPTION_ALGS,
  contentEncryptionAlgs: CONTENT_ENCRYPTION_ALGS,
  maxMessageBytes: 4 * 1024 * 1024,
};

/** `typ` of a transfer's signed statement (wire version 2): a JWS over the Merkle root of its members. */
export const TYP_TRANSFER_ROOT = 'accord-transfer-root+jws';
/** `cty` of a transfer's JWE (wire version 2): its plaintext is the statement and the members. */
export const CTY_TRANSFER = 'accord-transfer+json';
