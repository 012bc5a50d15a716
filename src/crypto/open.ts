/**
 * open = the reverse of seal, strictly, in two layers that can be driven on their own (the public test
 * vectors are neither nested nor typed the Accord way):
 *
 * - {@link decryptJwe}: size first, then the compact form, then the protected header against the profile
 *   (allow-listed `alg`/`enc`, no `zip`, no embedded or remote keys, no `crit`, the expected `typ`/`cty`),
 *   then decryption with the pinned key named by `kid`;
 * - {@link verifyJws}: the same for a compact JWS, verified with the pinned key named by `kid`;
 * - {@link open}: Accord's message — a JWE of type `accord-message+jwe` around a JWS of type
 *   `accord-envelope+jws` — composed of the two.
 *
 * Every failure is one stable code; no plaintext, no key material and no header value other than `kid`
 * is put into an error.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import jose from 'node-jose';
import { z } from 'zod';
import { AccordError } from '../errors.js';
import { checkHeader, checkSize, decodeHeader, fail, splitCompact } from './compact.js';
import type { KeyLookup, KeyRing } from './keyring.js';
import {
  NATIVE_CONTENT_ALGS,
  NATIVE_KEY_ALGS,
  NATIVE_SIGNATURE_ALGS,
  decryptCompact,
  privateKeyOf,
  publicKeyOf,
  verifyCompact,
} from './native.js';
import { TransferBody, TransferStatement } from '../domain/transfer.js';
import { auditPaths, leafHash, merkleRoot } from './merkle.js';
import { CTY_JWE, CTY_TRANSFER, TYP_JWE, TYP_JWS, TYP_TRANSFER_ROOT, type CryptoProfile } from './profile.js';

/** What the receiver learns besides the payload: the facts shown on delivery. */
export interface OpenFacts {
  /** SHA-256 (hex) of the JWE compact string as received; what the receipt acknowledges. */
  jweSha256: string;
  encryptionKid: string;
  signatureKid: string;
  signatureAlg: string;
  keyEncryptionAlg: string;
  contentEncryptionAlg: string;
}

/** The media types a layer must declare; a member left out is not checked (test vectors carry none). */
export interface LayerTypes {
  /** Required `typ` of the protected header. */
  typ?: string;
  /** Required `cty` of the protected header (JWE only). */
  cty?: string;
}

/** The kids a header may name: those a JWK file may hold (jwk.ts); never a path, a URL or a query. */
const Kid = z.string().regex(/^[A-Za-z0-9._:@-]{1,128}$/);
const MediaType = z.string().min(1).max(128);

const Epk = z.strictObject({
  kty: z.literal('EC'),
  crv: z.enum(['P-256', 'P-384']),
  x: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/),
  y: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/),
});

const JweHeader = z.strictObject({
  alg: z.string(),
  enc: z.string(),
  kid: Kid.optional(),
  typ: MediaType.optional(),
  cty: MediaType.optional(),
  epk: Epk.optional(),
});
/** A checked JWE protected header. */
export type JweHeader = z.output<typeof JweHeader>;

const JwsHeader = z.strictObject({ alg: z.string(), kid: Kid.optional(), typ: MediaType.optional() });
/** A checked JWS protected header. */
export type JwsHeader = z.output<typeof JwsHeader>;

/** Key management that derives the CEK, so the JWE's encrypted-key part must be empty. */
const DIRECT_ALGS = new Set(['dir', 'ECDH-ES']);
/** Authentication-tag bytes per content encryption (RFC 7518 §5.2, §5.3): a shortened tag is forgeable. */
const TAG_BYTES: Record<string, number> = {
  A128GCM: 16,
  A192GCM: 16,
  A256GCM: 16,
  'A128CBC-HS256': 16,
  'A192CBC-HS384': 24,
  'A256CBC-HS512': 32,
};
/** Signature bytes of fixed-size algorithms (RFC 7518 §3.2, §3.4); RSA signatures are modulus-sized. */
const SIGNATURE_BYTES: Record<string, number> = {
  ES256: 64,
  ES384: 96,
  ES512: 132,
  HS256: 32,
  HS384: 48,
  HS512: 64,
};

// @types/node-jose omits the per-call options; these are node-jose's documented signatures.
interface Decrypter {
  decrypt(input: string, opts: { algorithms: string[] }): Promise<{ plaintext: Buffer }>;
}
interface Verifier {
  verify(
    input: string,
    opts: { algorithms: string[]; allowEmbeddedKey: boolean },
  ): Promise<{ payload: Buffer }>;
}

function asText(input: Buffer | string): string {
  // latin1 maps every byte to one character, so a stray non-ASCII byte fails the base64url check.
  return typeof input === 'string' ? input : input.toString('latin1');
}

function checkTypes(header: { typ?: string; cty?: string }, types: LayerTypes, layer: 'jwe' | 'jws'): void {
  // Explicit typing (RFC 8725 §3.11): a JWS cannot pass for a JWE or for another application's token.
  for (const param of ['typ', 'cty'] as const) {
    const want = types[param];
    if (want !== undefined && header[param] !== want) {
      fail('crypto.header_invalid', `${layer} "${param}" is not ${want}`, { path: `${layer}.${param}` });
    }
  }
}

/**
 * Check a decoded JWE protected header against the profile: allow-listed `alg` and `enc`, no forbidden
 * parameter, nothing unknown, and the `typ`/`cty` given in `types`.
 */
export function checkJweHeader(
  raw: Record<string, unknown>,
  profile: CryptoProfile,
  types: LayerTypes = {},
): JweHeader {
  const header = checkHeader(raw, JweHeader, 'jwe', {
    alg: profile.keyEncryptionAlgs,
    enc: profile.contentEncryptionAlgs,
  });
  checkTypes(header, types, 'jwe');
  return header;
}

/** Check a decoded JWS protected header the same way: allow-listed `alg`, and the `typ` in `types`. */
export function checkJwsHeader(
  raw: Record<string, unknown>,
  profile: CryptoProfile,
  types: Pick<LayerTypes, 'typ'> = {},
): JwsHeader {
  const header = checkHeader(raw, JwsHeader, 'jws', { alg: profile.signatureAlgs });
  checkTypes(header, types, 'jws');
  return header;
}

/** The pinned key must be the one for this algorithm: no key is ever used with an algorithm it was not made for. */
function checkKeyAlg(key: jose.JWK.Key, alg: string, layer: 'jwe' | 'jws', kid: string | undefined): void {
  if (key.alg !== alg) {
    fail('crypto.alg_not_allowed', `${layer} "alg" does not match the key named by kid`, {
      path: `${layer}.alg`,
      ...(kid === undefined ? {} : { kid }),
    });
  }
}

/**
 * Decrypt a compact JWE with a pinned key, after checking it against the profile. Returns the plaintext
 * and the checked header. `types` names the `typ`/`cty` the header must carry.
 */
export async function decryptJwe(
  input: Buffer | string,
  lookup: KeyLookup,
  profile: CryptoProfile,
  types: LayerTypes = {},
): Promise<{ plaintext: Buffer; header: JweHeader }> {
  checkSize(input, profile.maxMessageBytes, 'the JWE');
  const jwe = asText(input);
  return decryptSplit(jwe, splitCompact(jwe, 5, 'JWE'), lookup, profile, types);
}

/**
 * {@link decryptJwe} of a JWE already split into its five canonical parts: a caller that split it to
 * read its header does not pay the canonical round trip of a large ciphertext twice.
 */
async function decryptSplit(
  jwe: string,
  segments: string[],
  lookup: KeyLookup,
  profile: CryptoProfile,
  types: LayerTypes,
): Promise<{ plaintext: Buffer; header: JweHeader }> {
  const [protectedB64, encryptedKey, iv, ciphertext, tag] = segments;
  const header = checkJweHeader(decodeHeader(protectedB64 ?? '', 'jwe'), profile, types);
  const kid = header.kid;
  const facts = kid === undefined ? {} : { kid };
  const key = lookup(kid);
  checkKeyAlg(key, header.alg, 'jwe', kid);

  let epk: KeyObject | undefined;
  if (header.alg.startsWith('ECDH-ES')) {
    const keyCrv = (key.toJSON() as { crv?: string }).crv;
    if (!header.epk || header.epk.crv !== keyCrv) {
      fail('crypto.header_invalid', 'jwe "epk" is missing or on another curve', {
        path: 'jwe.epk',
        ...facts,
      });
    }
    try {
      // node:crypto refuses a point that is not on the curve (invalid-curve attacks, RFC 8725 §3.4).
      // The checked key is the one the decryption uses: importing it twice cost ~4% of a gateway.
      epk = createPublicKey({ key: header.epk, format: 'jwk' });
    } catch (err) {
      fail('crypto.header_invalid', 'jwe "epk" is not a valid public key', { path: 'jwe.epk', cause: err });
    }
  } else if (header.epk !== undefined) {
    fail('crypto.header_invalid', 'jwe "epk" belongs to ECDH-ES only', { path: 'jwe.epk', ...facts });
  }
  if (DIRECT_ALGS.has(header.alg) !== (encryptedKey === '')) {
    fail('crypto.malformed', 'the JWE encrypted key is missing, or present where the algorithm has none');
  }
  const tagBytes = TAG_BYTES[header.enc];
  if (tagBytes !== undefined && Buffer.from(tag ?? '', 'base64url').length !== tagBytes) {
    fail('crypto.decrypt_failed', 'the JWE could not be decrypted', facts);
  }
  if (header.enc.endsWith('GCM') && Buffer.from(iv ?? '', 'base64url').length !== 12) {
    fail('crypto.decrypt_failed', 'the JWE could not be decrypted', facts);
  }

  if (NATIVE_KEY_ALGS.has(header.alg) && NATIVE_CONTENT_ALGS.has(header.enc)) {
    try {
      const parts = {
        protectedB64: protectedB64 ?? '',
        encryptedKey: encryptedKey ?? '',
        iv: iv ?? '',
        ciphertext: ciphertext ?? '',
        tag: tag ?? '',
      };
      return { plaintext: decryptCompact(parts, header.alg, privateKeyOf(key), epk), header };
    } catch (err) {
      fail('crypto.decrypt_failed', 'the JWE could not be decrypted', { ...facts, cause: err });
    }
  }
  // Algorithms outside Accord's own (the public test vectors' control runs) go through node-jose.
  try {
    const decrypter = jose.JWE.createDecrypt(key) as unknown as Decrypter;
    const result = await decrypter.decrypt(jwe, { algorithms: [header.alg, header.enc] });
    return { plaintext: result.plaintext, header };
  } catch (err) {
    fail('crypto.decrypt_failed', 'the JWE could not be decrypted', { ...facts, cause: err });
  }
}

/**
 * Verify a compact JWS with a pinned key, after checking it against the profile. Returns the payload and
 * the checked header. `types.typ` is the `typ` the header must carry.
 */
export async function verifyJws(
  input: Buffer | string,
  lookup: KeyLookup,
  profile: CryptoProfile,
  types: Pick<LayerTypes, 'typ'> = {},
): Promise<{ payload: Buffer; header: JwsHeader }> {
  checkSize(input, profile.maxMessageBytes, 'the JWS');
  const jws = asText(input);
  const [headerB64, payloadB64, signature] = splitCompact(jws, 3, 'JWS');
  const header = checkJwsHeader(decodeHeader(headerB64 ?? '', 'jws'), profile, types);
  const kid = header.kid;
  const facts = kid === undefined ? {} : { kid };
  const key = lookup(kid);
  checkKeyAlg(key, header.alg, 'jws', kid);

  // A signature of the wrong size is refused before verifying: some verifiers pad, trim or parse
  // leniently (Wycheproof's "SignatureTooLong", "TrailingZeros").
  const modulus = (key.toJSON() as { n?: string }).n;
  const expected =
    SIGNATURE_BYTES[header.alg] ??
    (modulus === undefined ? undefined : Buffer.from(modulus, 'base64url').length);
  if (expected !== undefined && Buffer.from(signature ?? '', 'base64url').length !== expected) {
    fail('crypto.bad_signature', 'the signature does not verify', facts);
  }

  if (NATIVE_SIGNATURE_ALGS.has(header.alg)) {
    let ok = false;
    try {
      // The bytes received, when they came as bytes (split, they are ASCII: the text's own image).
      const signingInput =
        typeof input === 'string'
          ? `${headerB64 ?? ''}.${payloadB64 ?? ''}`
          : input.subarray(0, (headerB64 ?? '').length + 1 + (payloadB64 ?? '').length);
      ok = verifyCompact(
        signingInput,
        Buffer.from(signature ?? '', 'base64url'),
        header.alg,
        publicKeyOf(key),
      );
    } catch (err) {
      fail('crypto.bad_signature', 'the signature does not verify', { ...facts, cause: err });
    }
    if (!ok) fail('crypto.bad_signature', 'the signature does not verify', facts);
    return { payload: Buffer.from(payloadB64 ?? '', 'base64url'), header };
  }
  try {
    const verifier = jose.JWS.createVerify(key) as unknown as Verifier;
    const verified = await verifier.verify(jws, { algorithms: [header.alg], allowEmbeddedKey: false });
    return { payload: verified.payload, header };
  } catch (err) {
    fail('crypto.bad_signature', 'the signature does not verify', { ...facts, cause: err });
  }
}

/** Open a sealed message; returns the verified payload bytes and the verification facts. */
export async function open(
  input: Buffer | string,
  keys: KeyRing,
  profile: CryptoProfile,
): Promise<{ payload: Buffer; facts: OpenFacts }> {
  // The size is checked before anything else looks at the input.
  checkSize(input, profile.maxMessageBytes, 'the sealed message');
  const jwe = asText(input);
  return openSplit(input, jwe, splitCompact(jwe, 5, 'JWE'), keys, profile);
}

/** {@link open} of a sealed message already split into its five canonical parts (see decryptSplit). */
async function openSplit(
  input: Buffer | string,
  jwe: string,
  segments: string[],
  keys: KeyRing,
  profile: CryptoProfile,
): Promise<{ payload: Buffer; facts: OpenFacts }> {
  const outer = await decryptSplit(jwe, segments, keys.decryptionLookup, profile, {
    typ: TYP_JWE,
    cty: CTY_JWE,
  });
  const inner = await verifyJws(outer.plaintext, keys.verificationLookup, profile, { typ: TYP_JWS });
  return { payload: inner.payload, facts: factsOf(input, outer.header, inner.header) };
}

/** The verification facts of an opened message, from its two checked headers. */
function factsOf(jwe: Buffer | string, outer: JweHeader, inner: JwsHeader): OpenFacts {
  // Both lookups require a kid, so both are set here.
  const encryptionKid = outer.kid;
  const signatureKid = inner.kid;
  if (encryptionKid === undefined || signatureKid === undefined) {
    throw new AccordError('crypto.unknown_kid', 'a layer names no kid');
  }
  return {
    // The bytes as received when there are any (the text is their latin1 image, and ASCII once split):
    // hashing the text would encode it to bytes again.
    jweSha256: createHash('sha256').update(jwe).digest('hex'),
    encryptionKid,
    signatureKid,
    signatureAlg: inner.alg,
    keyEncryptionAlg: outer.alg,
    contentEncryptionAlg: outer.enc,
  };
}

/** An opened transfer (wire version 2): the verified statement and every member with its evidence. */
export interface OpenedTransfer {
  statement: TransferStatement;
  /** The statement's compact JWS, kept as each member's proof of origin. */
  statementJws: string;
  /** The members' JSON texts, in order. */
  members: string[];
  /** Each member's leaf hash (lower-case hex): what its receipt names. */
  leaves: string[];
  /** Each member's audit path, leaf to root (lower-case hex). */
  paths: string[][];
}

/** A sealed message of either wire version, opened. */
export type OpenedAny =
  { payload: Buffer; facts: OpenFacts } | { transfer: OpenedTransfer; facts: OpenFacts };

/**
 * Open a sealed message of wire version 1 (one envelope) or 2 (a transfer), told apart by the JWE's
 * `cty` before anything is decrypted. A transfer is refused whole when its statement's signature does
 * not verify, when it does not match the members (count, root) or when its plaintext is malformed.
 */
export async function openAny(
  input: Buffer | string,
  keys: KeyRing,
  profile: CryptoProfile,
): Promise<OpenedAny> {
  checkSize(input, profile.maxMessageBytes, 'the sealed message');
  const jwe = asText(input);
  const segments = splitCompact(jwe, 5, 'JWE');
  const cty = decodeHeader(segments[0] ?? '', 'jwe').cty;
  if (cty !== CTY_TRANSFER) return openSplit(input, jwe, segments, keys, profile);
  const outer = await decryptSplit(jwe, segments, keys.decryptionLookup, profile, {
    typ: TYP_JWE,
    cty: CTY_TRANSFER,
  });
  let body: TransferBody;
  try {
    body = TransferBody.parse(JSON.parse(outer.plaintext.toString('utf8')));
  } catch {
    fail('crypto.malformed', 'the transfer is not a statement and its members', { path: 'transfer' });
  }
  const inner = await verifyJws(body.statement, keys.verificationLookup, profile, { typ: TYP_TRANSFER_ROOT });
  let statement: TransferStatement;
  try {
    statement = TransferStatement.parse(JSON.parse(inner.payload.toString('utf8')));
  } catch {
    fail('crypto.malformed', 'the transfer statement is malformed', { path: 'transfer.statement' });
  }
  const leaves = body.members.map((m) => leafHash(Buffer.from(m, 'utf8')));
  if (statement.count !== leaves.length || merkleRoot(leaves).toString('hex') !== statement.root) {
    fail('crypto.bad_signature', 'the signed root does not match the members', { path: 'transfer.root' });
  }
  return {
    transfer: {
      statement,
      statementJws: body.statement,
      members: body.members,
      leaves: leaves.map((l) => l.toString('hex')),
      paths: auditPaths(leaves).map((p) => p.map((h) => h.toString('hex'))),
    },
    facts: factsOf(input, outer.header, inner.header),
  };
}
