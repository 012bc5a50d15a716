/** Exit codes (DESIGN §4): 0 success, 1 refused or failed, 2 bad usage or configuration. */
import { AccordError, exitCodeOf } from '../errors.js';

export const EXIT_OK = 0;
export const EXIT_REFUSED = 1;
export const EXIT_USAGE = 2;

/** Print an error as `code: message` on stderr and return its exit code. */
export function reportError(err: unknown): number {
  if (err instanceof AccordError) {
    process.stderr.write(`${err.code}: ${err.message}${err.path ? ` (at ${err.path})` : ''}\n`);
    return exitCodeOf(err.code);
  }
  process.stderr.write(`internal.error: ${(err as Error)?.message ?? String(err)}\n`);
  return EXIT_REFUSED;
}
