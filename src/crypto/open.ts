/**
 * open = the reverse of seal, strictly: size first, then the compact form, then each protected header
 * against Accord's profile (allow-listed algorithms, explicit `typ`, no `zip`, no embedded or remote
 * keys, no `crit`), then decryption with the pinned key named by `kid`, then the inner JWS the same
 * way, verified with the peer's pinned key. Every failure is one stable code; no plaintext, no key
 * material and no header value other than `kid` is put into an error.
 */
import { createHash, createPublicKey } from 'node:crypto';
import jose from 'node-jose';
import { z } from 'zod';
import { AccordError, type ErrorCode } from '../errors.js';
import { formatPath, parseJson } from '../domain/parse.js';
import type { KeyRing } from './keyring.js';
import { CTY_JWE, TYP_JWE, TYP_JWS, type CryptoProfile } from './profile.js';

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

/** Header parameters Accord never accepts (RFC 8725 §3.6, §3.10): compression, embedded/remote keys. */
const FORBIDDEN_PARAMS = ['zip', 'jku', 'jwk', 'x5u', 'x5c', 'x5t', 'x5t#S256', 'crit', 'p2s', 'p2c'];

const B64U_PART = /^[A-Za-z0-9_-]*$/;
const Kid = z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/);

const Epk = z.strictObject({
  kty: z.literal('EC'),
  crv: z.enum(['P-256', 'P-384']),
  x: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/),
  y: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/),
});

const JweHeader = z.strictObject({
  alg: z.string(),
  enc: z.string(),
  kid: Kid,
  typ: z.literal(TYP_JWE),
  cty: z.literal(CTY_JWE),
  epk: Epk.optional(),
});

const JwsHeader = z.strictObject({ alg: z.string(), kid: Kid, typ: z.literal(TYP_JWS) });

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

function fail(
  code: ErrorCode,
  message: string,
  facts: { path?: string; kid?: string; cause?: unknown } = {},
): never {
  throw new AccordError(code, message, facts);
}

/** Decode and check one protected header; `layer` is `jwe` or `jws` (it prefixes error paths). */
function readHeader<S extends z.ZodType>(
  encoded: string,
  schema: S,
  layer: 'jwe' | 'jws',
  allowed: Record<string, readonly string[]>,
): z.output<S> {
  let raw: unknown;
  try {
    raw = parseJson(Buffer.from(encoded, 'base64url'), 16 * 1024);
  } catch (err) {
    fail('crypto.header_invalid', `the ${layer} protected header is not JSON`, {
      path: `${layer}.header`,
      cause: err,
    });
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    fail('crypto.header_invalid', `the ${layer} protected header is not an object`, {
      path: `${layer}.header`,
    });
  }
  const header = raw as Record<string, unknown>;
  // Algorithms first, so that `none` or a downgrade reads as what it is.
  for (const [param, list] of Object.entries(allowed)) {
    const value = header[param];
    if (typeof value !== 'string' || !list.includes(value)) {
      fail('crypto.alg_not_allowed', `${layer} "${param}" is not on the allow-list`, {
        path: `${layer}.${param}`,
      });
    }
  }
  for (const param of FORBIDDEN_PARAMS) {
    if (param in header) {
      fail('crypto.header_invalid', `${layer} header parameter "${param}" is not accepted`, {
        path: `${layer}.${param}`,
      });
    }
  }
  const parsed = schema.safeParse(header);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    // An unknown parameter is reported at the parameter itself, not at the header holding it.
    const at =
      issue?.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0] ?? ''] : (issue?.path ?? []);
    const path = `${layer}.${formatPath(at)}`;
    fail('crypto.header_invalid', `the ${layer} protected header is invalid at ${path}`, { path });
  }
  return parsed.data;
}

/**
 * Split a compact serialization. Each part must be canonical base64url: the unused low bits of a
 * last character must be zero, else two different strings decode to the same bytes and the SHA-256
 * the receipt carries would not be the one the sender recorded.
 */
function splitCompact(input: string, parts: number, what: string): string[] {
  const segments = input.split('.');
  const canonical = (s: string) =>
    B64U_PART.test(s) && Buffer.from(s, 'base64url').toString('base64url') === s;
  if (segments.length !== parts || !segments.every(canonical)) {
    fail('crypto.malformed', `not a compact ${what} of ${parts} canonical base64url parts`);
  }
  return segments;
}

/** Open a sealed message; returns the verified payload bytes and the verification facts. */
export async function open(
  input: Buffer | string,
  keys: KeyRing,
  profile: CryptoProfile,
): Promise<{ payload: Buffer; facts: OpenFacts }> {
  const size = typeof input === 'string' ? Buffer.byteLength(input) : input.length;
  if (size > profile.maxMessageBytes) {
    fail('input.too_large', `sealed message is ${size} bytes, the limit is ${profile.maxMessageBytes}`);
  }
  const jwe = typeof input === 'string' ? input : input.toString('latin1');
  const [protectedB64, encryptedKey] = splitCompact(jwe, 5, 'JWE');
  const header = readHeader(protectedB64 ?? '', JweHeader, 'jwe', {
    alg: profile.keyEncryptionAlgs,
    enc: profile.contentEncryptionAlgs,
  });
  const decryptionKey = keys.decryptionKey(header.kid);
  if (decryptionKey.alg !== header.alg) {
    fail('crypto.alg_not_allowed', 'jwe "alg" does not match the key named by kid', {
      path: 'jwe.alg',
      kid: header.kid,
    });
  }
  if (header.alg.startsWith('ECDH-ES')) {
    const keyCrv = (decryptionKey.toJSON() as { crv?: string }).crv;
    if (!header.epk || header.epk.crv !== keyCrv) {
      fail('crypto.header_invalid', 'jwe "epk" is missing or on another curve', {
        path: 'jwe.epk',
        kid: header.kid,
      });
    }
    try {
      // node:crypto refuses a point that is not on the curve (invalid-curve attacks, RFC 8725 §3.4).
      createPublicKey({ key: header.epk, format: 'jwk' });
    } catch (err) {
      fail('crypto.header_invalid', 'jwe "epk" is not a valid public key', { path: 'jwe.epk', cause: err });
    }
    if (encryptedKey === '') fail('crypto.malformed', 'the JWE has no encrypted key');
  }

  let jws: string;
  try {
    const decrypter = jose.JWE.createDecrypt(decryptionKey) as unknown as Decrypter;
    const result = await decrypter.decrypt(jwe, { algorithms: [header.alg, header.enc] });
    jws = result.plaintext.toString('latin1');
  } catch (err) {
    fail('crypto.decrypt_failed', 'the JWE could not be decrypted', { kid: header.kid, cause: err });
  }

  const [jwsHeaderB64] = splitCompact(jws, 3, 'JWS');
  const jwsHeader = readHeader(jwsHeaderB64 ?? '', JwsHeader, 'jws', { alg: profile.signatureAlgs });
  const verificationKey = keys.verificationKey(jwsHeader.kid);
  if (verificationKey.alg !== jwsHeader.alg) {
    fail('crypto.alg_not_allowed', 'jws "alg" does not match the key named by kid', {
      path: 'jws.alg',
      kid: jwsHeader.kid,
    });
  }
  let payload: Buffer;
  try {
    const verifier = jose.JWS.createVerify(verificationKey) as unknown as Verifier;
    const verified = await verifier.verify(jws, {
      algorithms: [jwsHeader.alg],
      allowEmbeddedKey: false,
    });
    payload = verified.payload;
  } catch (err) {
    fail('crypto.bad_signature', 'the signature does not verify', { kid: jwsHeader.kid, cause: err });
  }

  return {
    payload,
    facts: {
      jweSha256: createHash('sha256').update(jwe).digest('hex'),
      encryptionKid: header.kid,
      signatureKid: jwsHeader.kid,
      signatureAlg: jwsHeader.alg,
      keyEncryptionAlg: header.alg,
      contentEncryptionAlg: header.enc,
    },
  };
}
