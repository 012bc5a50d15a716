/**
 * What every JOSE input Accord reads has in common — a sealed message, its inner JWS, an encrypted key
 * file: compact serialization of canonical base64url parts, and a protected header checked against an
 * allow-list and against the parameters Accord never accepts. One implementation, so that the checks the
 * public test vectors exercise are the checks real traffic meets.
 */
import type { z } from 'zod';
import { AccordError, type ErrorCode } from '../errors.js';
import { formatPath, parseJson } from '../domain/parse.js';

/**
 * Header parameters Accord never accepts in a message (RFC 8725 §3.6, §3.10): compression, embedded or
 * remote keys, critical extensions it does not implement, and password-based key wrapping (no `p2c`
 * ceiling in node-jose).
 */
export const FORBIDDEN_PARAMS: readonly string[] = [
  'zip',
  'jku',
  'jwk',
  'x5u',
  'x5c',
  'x5t',
  'x5t#S256',
  'crit',
  'p2s',
  'p2c',
];

/** A protected header larger than this is refused before it is parsed. */
const MAX_HEADER_BYTES = 16 * 1024;

/** Throw an AccordError; the facts are the only details that may accompany it. */
export function fail(
  code: ErrorCode,
  message: string,
  facts: { path?: string; kid?: string; cause?: unknown } = {},
): never {
  throw new AccordError(code, message, facts);
}

/**
 * A sealed message as it came over the wire, without trailing ASCII whitespace (a newline that
 * `accord envelope seal` or a shell added). Only at that boundary: inside a compact serialization,
 * and in front of it, whitespace stays an error. A view, not a copy.
 */
export function withoutTrailingWhitespace(content: Buffer): Buffer {
  let end = content.length;
  while (end > 0) {
    const c = content[end - 1]!;
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break;
    end--;
  }
  return end === content.length ? content : content.subarray(0, end);
}

/** Refuse input over the profile's size limit, counted in bytes, before anything else is done with it. */
export function checkSize(input: Buffer | string, maxBytes: number, what: string): void {
  const size = typeof input === 'string' ? Buffer.byteLength(input) : input.length;
  if (size > maxBytes) fail('input.too_large', `${what} is ${size} bytes, the limit is ${maxBytes}`);
}

/**
 * Split a compact serialization. Each part must be canonical base64url: the unused low bits of a
 * last character must be zero, else two different strings decode to the same bytes and the SHA-256
 * a receipt carries would not be the one the sender recorded.
 */
export function splitCompact(input: string, parts: number, what: string): string[] {
  const segments = input.split('.');
  if (segments.length !== parts || !segments.every(isCanonicalBase64url)) {
    fail('crypto.malformed', `not a compact ${what} of ${parts} canonical base64url parts`);
  }
  return segments;
}

/** The value of each base64url character (the unused low bits of a last one must be zero). */
const B64URL_VALUE = new Map(
  [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'].map((c, i) => [c, i]),
);
const B64URL_ONLY = /^[A-Za-z0-9_-]*$/;

/**
 * Whether `s` is what Node's base64url encoder makes of some bytes — the one spelling of them: only
 * the URL-safe alphabet, no padding, no length of 4n + 1, and the unused low bits of a last character
 * zero. The same answer as decoding and encoding again (test/unit/compact.test.ts checks it against
 * that round trip), without the re-encoding, which cost a 512 KiB message about 2 ms per layer.
 */
export function isCanonicalBase64url(s: string): boolean {
  if (!B64URL_ONLY.test(s)) return false;
  const rest = s.length % 4;
  if (rest === 0) return true;
  if (rest === 1) return false;
  const last = B64URL_VALUE.get(s[s.length - 1]!)!;
  // 2 characters carry 1 byte (4 bits unused), 3 carry 2 bytes (2 bits unused).
  return (last & (rest === 2 ? 0x0f : 0x03)) === 0;
}

/** Decode a protected header to a JSON object, or refuse it as `crypto.header_invalid`. */
export function decodeHeader(encoded: string, layer: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = parseJson(Buffer.from(encoded, 'base64url'), MAX_HEADER_BYTES);
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
  return raw as Record<string, unknown>;
}

/**
 * Check a decoded protected header: each allow-listed parameter first (so that `none` or a downgrade
 * reads as what it is), then the forbidden parameters, then the strict schema of the layer. `layer`
 * prefixes every error path (`jwe.alg`, `jws.kid`).
 */
export function checkHeader<S extends z.ZodType>(
  header: Record<string, unknown>,
  schema: S,
  layer: string,
  allowed: Record<string, readonly string[]>,
  forbidden: readonly string[] = FORBIDDEN_PARAMS,
): z.output<S> {
  for (const [param, list] of Object.entries(allowed)) {
    const value = header[param];
    if (typeof value !== 'string' || !list.includes(value)) {
      fail('crypto.alg_not_allowed', `${layer} "${param}" is not on the allow-list`, {
        path: `${layer}.${param}`,
      });
    }
  }
  for (const param of forbidden) {
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
