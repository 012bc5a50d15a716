/**
 * Temporary folders of a test run: made under the OS temp directory and removed when the run ends
 * (by the root hook, test/hooks.ts, or at the latest when the process exits), so a test that fails
 * half-way leaves no key material or audit file behind either.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const toRemove = new Set<string>();

/** A fresh folder `accord-<prefix>-XXXXXX` in the OS temp directory, removed at the end of the run. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `accord-${prefix}-`));
  toRemove.add(dir);
  return dir;
}

/** Remove `path` (a folder a test names itself, e.g. after a namespace stem) at the end of the run. */
export function removeAtEnd(path: string): string {
  toRemove.add(path);
  return path;
}

/** Remove every folder made or named above; the root hook calls it, and so does the process's exit. */
export function removeTempDirs(): void {
  for (const path of toRemove) rmSync(path, { recursive: true, force: true });
  toRemove.clear();
}

process.once('exit', removeTempDirs);
