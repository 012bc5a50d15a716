/**
 * JWK and JWK Set file formats (RFC 7517), parsed strictly and size-limited. Public sets must not
 * carry private members; every key names its `kid`, `use` and `alg`.
 */
import { readFileSync, statSync } from 'node:fs';
import { z } from 'zod';
import { AccordError } from '../errors.js';
import { parseJson, validate } from '../domain/parse.js';

/** A key file larger than this is refused before it is parsed. */
export const MAX_JWKS_BYTES = 64 * 1024;

const B64u = z
  .string()
  .regex(/^[A-Za-z0-9_-]+$/, 'base64url')
  .max(2048);
const Kid = z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, 'letters, digits and ._:- , 1 to 128');

const EcPublic = {
  kty: z.literal('EC'),
  crv: z.enum(['P-256', 'P-384']),
  x: B64u,
  y: B64u,
  kid: Kid,
  use: z.enum(['sig', 'enc']),
  alg: z.enum(['ES256', 'ES384', 'ECDH-ES+A256KW']),
  /** Accord's own metadata: when the key was made and until when it may be used. */
  iat: z.int().optional(),
  exp: z.int().optional(),
};

export const PublicJwk = z.strictObject(EcPublic);
export const PrivateJwk = z.strictObject({ ...EcPublic, d: B64u });
export type PublicJwk = z.infer<typeof PublicJwk>;
export type PrivateJwk = z.infer<typeof PrivateJwk>;

export const PublicJwkSet = z.strictObject({ keys: z.array(PublicJwk).min(1).max(32) });
export const PrivateJwkSet = z.strictObject({ keys: z.array(PrivateJwk).min(1).max(32) });

function readJwks(file: string): unknown {
  try {
    const size = statSync(file).size;
    if (size > MAX_JWKS_BYTES) {
      throw new AccordError('keys.invalid', `${file}: ${size} bytes, the limit is ${MAX_JWKS_BYTES}`);
    }
    return parseJson(readFileSync(file), MAX_JWKS_BYTES);
  } catch (err) {
    if (err instanceof AccordError && err.code === 'keys.invalid') throw err;
    const why =
      err instanceof AccordError ? err.message : ((err as NodeJS.ErrnoException).code ?? 'unreadable');
    throw new AccordError('keys.invalid', `${file}: ${why}`, { cause: err });
  }
}

function checked<T>(file: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    // Never echo key members: the message names only the file and the field path.
    const path = err instanceof AccordError ? err.path : undefined;
    throw new AccordError('keys.invalid', `${file}: not a valid JWK Set at ${path || '(root)'}`, { path });
  }
}

/** Read a private JWK Set file (this gateway's signing and decryption keys). */
export function readPrivateJwks(file: string): z.infer<typeof PrivateJwkSet> {
  const raw = readJwks(file);
  return checked(file, () => validate(PrivateJwkSet, raw, 'private JWK Set'));
}

/** Read a public JWK Set file (the peer's pinned keys). */
export function readPublicJwks(file: string): z.infer<typeof PublicJwkSet> {
  const raw = readJwks(file);
  return checked(file, () => validate(PublicJwkSet, raw, 'public JWK Set'));
}
