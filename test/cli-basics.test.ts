/** The `accord` command as a command line: its version, and a mistyped option named as such. */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
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

  it('says a --file it cannot read in one coded line, exit 2 (not internal.error)', async () => {
    const r = await runCli(
      ['send', '--config', join(ROOT, 'config', 'cz.json'), '--file', '/nonexistent/accord.json'],
      {
        ACCORD_IDENTIFIER_KEY: 'c2VjcmV0LWJ1dC1ub3QtdGhlLXRlc3Qtb25seS1rZXktMDEyMzQ1Njc4OQ==',
      },
    );
    expect(r.code, r.stderr).to.equal(2);
    expect(r.stderr.trim()).to.match(
      /^input\.invalid: --file: cannot read \/nonexistent\/accord\.json \(ENOENT\)/,
    );
    expect(r.stderr).not.to.contain('    at ');
  });

  it('npm run bench -- --help prints its usage (exit 0); an unknown option is one line, exit 2', async () => {
    const bench = join(ROOT, 'dist', 'scripts', 'bench.js');
    const help = await promisify(execFile)('node', [bench, '--help'], { cwd: ROOT });
    expect(help.stdout).to.match(/^npm run bench -- \[--quick\]/);
    const bad = await promisify(execFile)('node', [bench, '--nope'], { cwd: ROOT }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.match(/^bench: Unknown option '--nope'/);
    expect(bad.stderr).not.to.contain('    at ');
  });
});
