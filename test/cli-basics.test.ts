/** The `accord` command as a command line: its version, and a mistyped option named as such. */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, runCli } from './helpers/harness.js';

describe('accord as a command line', function () {
  this.timeout(30_000);

  it('prints its version with --version and exits 0', async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const r = await runCli(['--version']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout.trim()).to.equal(version);
  });

  it('names a mistyped option as unknown (not as a missing --config), suggests the right one, exits 2', async () => {
    const r = await runCli(['start', '--conifg', 'config/cz.json']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain("unknown option '--conifg'").and.to.contain('--config');
    expect(r.stderr).not.to.contain('required option');
  });

  it('still says a required option is missing, with exit 2', async () => {
    const r = await runCli(['start']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain("required option '--config <file>' not specified");
  });
});
