/**
 * JWK and JWK Set formats (RFC 7517), parsed strictly and size-limited. Every key names its `kid`, `use`
 * and `alg`, and the three agree with each other and with the key type; public sets carry no private
 * members; key material is checked before it is ever used: EC points on their curve, RSA moduli of at
 * least 2048 bits with a sane public exponent, private halves that belong to their public halves, and no
 * two keys sharing a `kid`.
 */
import { createECDH, createPublicKey } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { z } from 'zod';
import { AccordError } from '../errors.js';
import { formatPath, parseJson } from '../domain/parse.js';
import { ECDH_CURVES, MIN_RSA_BITS } from './profile.js';

/** A key file larger than this is refused before it is parsed. */
export const MAX_JWKS_BYTES = 64 * 1024;

const B64u = z
  .string()
  .regex(/^[A-Za-z0-9_-]+$/, 'base64url')
  .max(2048);
// '@' because kids are often e-mail-like (RFC 7520); nothing here can name a path, a URL or a query.
const Kid = z.string().regex(/^[A-Za-z0-9._:@-]{1,128}$/, 'letters, digits and ._:@- , 1 to 128');
const Use = z.enum(['sig', 'enc']);

/** Accord's own metadata: when the key was made and until when it may be used. */
const meta = { iat: z.int().optional(), exp: z.int().optional() };

const ecPublic = {
  kty: z.literal('EC'),
  crv: z.enum(ECDH_CURVES),
  x: B64u,
  y: B64u,
  kid: Kid,
  use: Use,
  alg: z.enum(['ES256', 'ECDH-ES+A256KW']),
  ...meta,
};
const rsaPublic = {
  kty: z.literal('RSA'),
  n: B64u,
  e: B64u,
  kid: Kid,
  use: Use,
  alg: z.enum(['PS256', 'RSA-OAEP-256']),
  ...meta,
};
const rsaPrivate = { d: B64u, p: B64u, q: B64u, dp: B64u, dq: B64u, qi: B64u };

/** What each algorithm is for; a key whose `use` says otherwise is refused. */
const USE_OF_ALG: Record<string, 'sig' | 'enc'> = {
  ES256: 'sig',
  PS256: 'sig',
  'ECDH-ES+A256KW': 'enc',
  'RSA-OAEP-256': 'enc',
};
const FIELD_BYTES: Record<string, number> = { 'P-256': 32, 'P-384': 48 };
const OPENSSL_CURVE: Record<string, string> = { 'P-256': 'prime256v1', 'P-384': 'secp384r1' };

type Ctx = z.RefinementCtx;
type EcKey = { kty: 'EC'; crv: string; x: string; y: string; alg: string; use: string; d?: string };
type RsaKey = { kty: 'RSA'; n: string; e: string; alg: string; use: string; p?: string; q?: string };

const bytes = (s: string) => Buffer.from(s, 'base64url');
const bigint = (b: Buffer) => (b.length === 0 ? 0n : BigInt(`0x${b.toString('hex')}`));

/** Size of an unsigned big-endian integer in bits. */
export function bitLength(b: Buffer): number {
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  if (i === b.length) return 0;
  return (b.length - i - 1) * 8 + (32 - Math.clz32(b[i]!));
}

function checkEc(k: EcKey, ctx: Ctx): void {
  if (k.alg === 'ES256' && k.crv !== 'P-256') {
    ctx.addIssue({ code: 'custom', path: ['crv'], message: 'ES256 keys are on P-256' });
    return;
  }
  const size = FIELD_BYTES[k.crv] ?? 0;
  for (const c of ['x', 'y'] as const) {
    if (bytes(k[c]).length !== size) {
      ctx.addIssue({ code: 'custom', path: [c], message: `${c} is not ${size} bytes (${k.crv})` });
      return;
    }
  }
  try {
    // node:crypto refuses a point that is not on the curve (invalid-curve attacks, RFC 8725 §3.4).
    createPublicKey({ key: { kty: 'EC', crv: k.crv, x: k.x, y: k.y }, format: 'jwk' });
  } catch {
    ctx.addIssue({ code: 'custom', path: ['x'], message: `not a point on ${k.crv}` });
    return;
  }
  if (k.d === undefined) return;
  const d = bytes(k.d);
  if (d.length !== size) {
    ctx.addIssue({ code: 'custom', path: ['d'], message: `d is not ${size} bytes (${k.crv})` });
    return;
  }
  try {
    const ecdh = createECDH(OPENSSL_CURVE[k.crv] ?? '');
    ecdh.setPrivateKey(d);
    const point = ecdh.getPublicKey();
    // Uncompressed point: 0x04 || x || y.
    if (!point.subarray(1, 1 + size).equals(bytes(k.x)) || !point.subarray(1 + size).equals(bytes(k.y))) {
      ctx.addIssue({ code: 'custom', path: ['d'], message: 'the private key does not match x and y' });
    }
  } catch {
    ctx.addIssue({ code: 'custom', path: ['d'], message: `not a private key on ${k.crv}` });
  }
}

function checkRsa(k: RsaKey, ctx: Ctx): void {
  const n = bytes(k.n);
  const bits = bitLength(n);
  if (bits < MIN_RSA_BITS) {
    ctx.addIssue({
      code: 'custom',
      path: ['n'],
      message: `an RSA modulus of ${bits} bits; at least ${MIN_RSA_BITS} are required`,
    });
    return;
  }
  if ((n[n.length - 1]! & 1) === 0) {
    ctx.addIssue({ code: 'custom', path: ['n'], message: 'an RSA modulus is odd' });
    return;
  }
  const e = bytes(k.e);
  const eValue = bigint(e);
  // e = 1 makes "encryption" the identity and e = 3 invites broadcast and padding attacks.
  if (bitLength(e) > 32 || eValue < 65537n || eValue % 2n === 0n) {
    ctx.addIssue({
      code: 'custom',
      path: ['e'],
      message: 'the RSA public exponent must be odd, at least 65537 and at most 32 bits',
    });
    return;
  }
  if (k.p !== undefined && k.q !== undefined && bigint(bytes(k.p)) * bigint(bytes(k.q)) !== bigint(n)) {
    ctx.addIssue({ code: 'custom', path: ['p'], message: 'p × q is not the modulus n' });
  }
}

function checkKey(k: EcKey | RsaKey, ctx: Ctx): void {
  if (USE_OF_ALG[k.alg] !== k.use) {
    ctx.addIssue({ code: 'custom', path: ['use'], message: `a ${k.alg} key has use "${USE_OF_ALG[k.alg]}"` });
    return;
  }
  if (k.kty === 'EC') checkEc(k, ctx);
  else checkRsa(k, ctx);
}

/** A public key: EC (ES256 on P-256, ECDH-ES+A256KW on P-256 or P-384) or RSA (PS256, RSA-OAEP-256). */
export const PublicJwk = z
  .discriminatedUnion('kty', [z.strictObject(ecPublic), z.strictObject(rsaPublic)])
  .superRefine(checkKey);
/** A private key: the public members plus the private ones, which must belong to them. */
export const PrivateJwk = z
  .discriminatedUnion('kty', [
    z.strictObject({ ...ecPublic, d: B64u }),
    z.strictObject({ ...rsaPublic, ...rsaPrivate }),
  ])
  .superRefine(checkKey);
export type PublicJwk = z.infer<typeof PublicJwk>;
export type PrivateJwk = z.infer<typeof PrivateJwk>;

function uniqueKids(set: { keys: { kid: string }[] }, ctx: Ctx): void {
  const seen = new Set<string>();
  set.keys.forEach((k, i) => {
    // Two keys behind one kid would make "the key this header names" ambiguous.
    if (seen.has(k.kid)) ctx.addIssue({ code: 'custom', path: ['keys', i, 'kid'], message: 'duplicate kid' });
    seen.add(k.kid);
  });
}

/** The most keys a JWK Set file may hold (rotations prune retired keys to stay under it). */
export const MAX_SET_KEYS = 32;

/** A public JWK Set (a peer's pinned keys): no private member anywhere. */
export const PublicJwkSet = z
  .strictObject({ keys: z.array(PublicJwk).min(1).max(MAX_SET_KEYS) })
  .superRefine(uniqueKids);
/** A private JWK Set (this gateway's own keys): every key with its private members. */
export const PrivateJwkSet = z
  .strictObject({ keys: z.array(PrivateJwk).min(1).max(MAX_SET_KEYS) })
  .superRefine(uniqueKids);
export type PublicJwkSet = z.infer<typeof PublicJwkSet>;
export type PrivateJwkSet = z.infer<typeof PrivateJwkSet>;

/** Read a key file's bytes, size-limited; every failure is `keys.invalid` naming the file. */
export function readKeyFile(file: string, maxBytes: number = MAX_JWKS_BYTES): Buffer {
  let size: number;
  try {
    size = statSync(file).size;
  } catch (err) {
    throw new AccordError('keys.invalid', `${file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`, {
      cause: err,
    });
  }
  if (size > maxBytes) {
    throw new AccordError('keys.invalid', `${file}: ${size} bytes, the limit is ${maxBytes}`);
  }
  try {
    return readFileSync(file);
  } catch (err) {
    throw new AccordError('keys.invalid', `${file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`, {
      cause: err,
    });
  }
}

/** Parse JSON key-file text; `keys.invalid` naming the source, never echoing the text. */
export function parseKeyJson(text: Buffer | string, source: string): unknown {
  try {
    return parseJson(text, MAX_JWKS_BYTES);
  } catch (err) {
    const why = err instanceof AccordError ? err.message : 'not JSON';
    throw new AccordError('keys.invalid', `${source}: ${why}`, { cause: err });
  }
}

function checked<S extends z.ZodType>(schema: S, raw: unknown, source: string): z.output<S> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  // An unknown member is reported at the member itself, not at the key holding it.
  const at = issue?.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0] ?? ''] : (issue?.path ?? []);
  const path = formatPath(at);
  // Never echo key members: the message names the source, the field path and what is wrong there.
  throw new AccordError(
    'keys.invalid',
    `${source}: not a valid JWK Set at ${path || '(root)'}: ${issue?.message ?? 'invalid'}`,
    { path },
  );
}

/** Validate parsed data as a private JWK Set; `source` names it in errors (a file name). */
export function parsePrivateJwks(raw: unknown, source: string): PrivateJwkSet {
  return checked(PrivateJwkSet, raw, source);
}

/** Validate parsed data as a public JWK Set; `source` names it in errors (a file name). */
export function parsePublicJwks(raw: unknown, source: string): PublicJwkSet {
  return checked(PublicJwkSet, raw, source);
}

/**
 * Read an unencrypted private JWK Set file. The gateway loads its keys with `loadPrivateJwks`
 * (keystore.ts), which also accepts the passphrase-encrypted form and checks the file's mode.
 */
export function readPrivateJwks(file: string): PrivateJwkSet {
  return parsePrivateJwks(parseKeyJson(readKeyFile(file), file), file);
}

/** Read a public JWK Set file (the peer's pinned keys). */
export function readPublicJwks(file: string): PublicJwkSet {
  return parsePublicJwks(parseKeyJson(readKeyFile(file), file), file);
}
