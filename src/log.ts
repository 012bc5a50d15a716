/**
 * Logging with pino. Accord logs ids, codes, kids, stages and counts, never message content: the
 * pipelines do not pass bodies, envelopes or keys to the logger, and the redaction below is the second
 * line of defence for the field names that would carry them.
 */
import { pino, type DestinationStream, type Logger } from 'pino';

/** Field names that must never reach a log line, at the top level and one level down. */
const SENSITIVE = [
  'body',
  'envelope',
  'payload',
  'jwe',
  'jws',
  'content',
  'd',
  'key',
  'keys',
  'persons',
  'person',
];

export const REDACT_PATHS = [...SENSITIVE, ...SENSITIVE.map((f) => `*.${f}`)];

/**
 * The root logger; each stage takes a child with `{ stage }`. Lines are JSON with the level by name
 * (`"level":"warn"`) and the time in ISO 8601 UTC (`"time":"2026-12-04T18:20:00.000Z"`), so that a
 * person and a log shipper read the same thing. `ACCORD_LOG_LEVEL` sets the level (default `info`).
 */
export function createLogger(opts: { level?: string; name?: string } = {}, dest?: DestinationStream): Logger {
  return pino(
    {
      name: opts.name ?? 'accord',
      level: opts.level ?? process.env.ACCORD_LOG_LEVEL ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    dest ?? pino.destination(1),
  );
}

/** A URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}
