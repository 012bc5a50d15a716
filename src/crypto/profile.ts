/** Accord's JOSE profile: media types and what the config allows. */

/** `typ` of the inner JWS: a signed Accord envelope. */
export const TYP_JWS = 'accord-envelope+jws';
/** `typ` of the outer JWE: a sealed Accord message. */
export const TYP_JWE = 'accord-message+jwe';
/** `cty` of the JWE: its plaintext is the signed envelope. */
export const CTY_JWE = TYP_JWS;

/** The algorithm allow-lists and size limit, from the config's `crypto` section. */
export interface CryptoProfile {
  readonly signatureAlgs: readonly string[];
  readonly keyEncryptionAlgs: readonly string[];
  readonly contentEncryptionAlgs: readonly string[];
  readonly maxMessageBytes: number;
}
