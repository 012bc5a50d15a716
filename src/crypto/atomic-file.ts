/**
 * Key files are replaced whole, never half-written: the new content
 * goes to a temporary file beside the target with its final mode, is fsync'ed, renamed over the target,
 * and the directory is fsync'ed so the rename survives a crash. A reader sees the old file or the new
 * one, never a mix, and a crash leaves at most a stray `*.tmp` beside it.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** Replace `file` with `text` atomically and durably, created with `mode` (e.g. 0o600). */
export function writeFileAtomic(file: string, text: string, mode: number): void {
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, file);
  syncDirectory(dirname(file));
}

function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some file systems (and Windows) cannot fsync a directory; the rename itself is still atomic.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
