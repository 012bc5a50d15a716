/**
 * The one way outside input becomes a domain value: a size check, a JSON parse that refuses
 * `__proto__`/`constructor.prototype` keys, then a strict zod schema. Failures are AccordErrors with
 * a code and the path of the first offending field; no input value is copied into the message.
 */
import sjson from 'secure-json-parse';
import type { z } from 'zod';
import { AccordError } from '../errors.js';

/** Parse JSON text or bytes, refusing oversize input and prototype-poisoning keys. */
export function parseJson(input: Buffer | string, maxBytes: number): unknown {
  const size = typeof input === 'string' ? Buffer.byteLength(input) : input.length;
  if (size > maxBytes) {
    throw new AccordError('input.too_large', `input is ${size} bytes, the limit is ${maxBytes}`);
  }
  const text = typeof input === 'string' ? input : decodeUtf8(input);
  try {
    return sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' }) as unknown;
  } catch (err) {
    throw new AccordError('input.not_json', 'input is not valid JSON', { cause: err });
  }
}

function decodeUtf8(bytes: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (err) {
    throw new AccordError('input.not_json', 'input is not valid UTF-8', { cause: err });
  }
}

/** Format a zod issue path as `a.b.0.c` (empty for the root). */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.map((p) => String(p)).join('.');
}

/**
 * Validate against a strict schema; throws `schema.invalid` naming the first offending field. An
 * unknown key is reported at the object that holds it, as "unknown key": the key is input too, and may
 * be personal data (a name used as a key), so it never reaches the path, the message, the log, a dead
 * letter or an event.
 */
export function validate<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = formatPath(issue?.path ?? []);
  const why = issue?.code === 'unrecognized_keys' ? 'unknown key' : (issue?.message ?? 'invalid');
  const message = `${what} is invalid at ${path || '(root)'}: ${why}`;
  throw new AccordError('schema.invalid', message, { path });
}

/** Every issue of a failed parse as `path: message` lines (for `accord config check`). */
export function listIssues(schema: z.ZodType, value: unknown): string[] {
  const result = schema.safeParse(value);
  if (result.success) return [];
  return result.error.issues.map((i) => `${formatPath(i.path) || '(root)'}: ${i.message}`);
}
