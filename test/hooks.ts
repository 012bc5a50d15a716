/**
 * Mocha root hooks, loaded with `--require dist/test/hooks.js` (the `test` scripts of package.json):
 * the run's temporary files go to a folder of its own under the OS temp directory (TMPDIR, which
 * `os.tmpdir()` and every child process read), so what this process tree creates there is known
 * exactly, whatever other programs do in the temp directory meanwhile. When the run ends, the test
 * helpers remove their folders (test/helpers/temp.ts), and that folder must then be empty: anything
 * left is named, the run fails, and the folder is removed all the same.
 */
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeTempDirs } from './helpers/temp.js';

const osTemp = tmpdir();
const runTemp = mkdtempSync(join(osTemp, 'accord-test-run-'));
// The chaos suite's RabbitMQ runs as its own user and must reach its folder inside.
chmodSync(runTemp, 0o755);
process.env.TMPDIR = runTemp;

/** What the run left in its temporary folder, after the helpers removed theirs. */
export function leftInTemp(): string[] {
  removeTempDirs();
  return readdirSync(runTemp);
}

export const mochaHooks = {
  afterAll(): void {
    const left = leftInTemp();
    rmSync(runTemp, { recursive: true, force: true });
    process.env.TMPDIR = osTemp;
    if (left.length > 0) {
      throw new Error(
        `the tests left ${left.length} entr${left.length === 1 ? 'y' : 'ies'} in the OS temp directory: ${left.join(', ')}`,
      );
    }
  },
};
