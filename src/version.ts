/** The installed version of Accord, from the package's own package.json. */
import { readFileSync } from 'node:fs';

let cached: string | undefined;

/** The version in package.json (two folders above dist/src), or `unknown` when it cannot be read. */
export function accordVersion(): string {
  if (cached !== undefined) return cached;
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: unknown;
    };
    cached = typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    cached = 'unknown';
  }
  return cached;
}
