/** Exit codes (DESIGN §4): 0 success, 1 refused or failed, 2 bad usage or configuration. */
import { AccordError, exitCodeOf } from '../errors.js';

export const EXIT_OK = 0;
export const EXIT_REFUSED = 1;
export const EXIT_USAGE = 2;

/**
 * The same error with its message on one line (a config's problems are listed one per line): for
 * `accord start`, whose failure is one line a supervisor's log keeps whole.
 */
export function onOneLine(err: unknown): unknown {
  if (!(err instanceof AccordError) || !err.message.includes('\n')) return err;
  const message = err.message.replace(/\s*\n\s*/g, '; ');
  return new AccordError(err.code, message, {
    ...(err.path === undefined ? {} : { path: err.path }),
    cause: err,
  });
}

/** Print an error as `code: message` on stderr and return its exit code. */
export function reportError(err: unknown): number {
  if (err instanceof AccordError) {
    process.stderr.write(`${err.code}: ${err.message}${err.path ? ` (at ${err.path})` : ''}\n`);
    return exitCodeOf(err.code);
  }
  process.stderr.write(`internal.error: ${(err as Error)?.message ?? String(err)}\n`);
  return EXIT_REFUSED;
}
