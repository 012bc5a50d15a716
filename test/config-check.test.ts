/**
 * `accord config check` checks what `accord start` checks before it opens anything (one function,
 * src/start-checks.ts): variables set, files that open, a writable audit folder, references to the
 * directory. Each problem is printed with its code and field path; a start that meets one exits
 * non-zero with one line, and never hangs.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../src/config.js';
import { CLI, ROOT, configFileFor, pairConfigs, removeNamespace, uniqueStem } from './helpers/harness.js';
import { tempDir } from './helpers/temp.js';

/**
 * A run of `accord`, killed with SIGKILL when it is still running after `timeoutMs` (`hung` then; a
 * SIGTERM would let a running gateway stop cleanly and exit 0).
 */
function accord(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs = 30_000,
): Promise<{ code: number | null; hung: boolean; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const options = { cwd: ROOT, env, timeout: timeoutMs, killSignal: 'SIGKILL' as const };
    execFile('node', [CLI, ...args], options, (err, stdout, stderr) => {
      const e = err as (Error & { code?: unknown; signal?: unknown }) | null;
      const hung = e?.signal === 'SIGKILL';
      resolve({ code: hung ? null : typeof e?.code === 'number' ? e.code : 0, hung, stdout, stderr });
    });
  });
}

describe('config check checks what start checks', function () {
  this.timeout(60_000);
  const { cz, kz } = pairConfigs(uniqueStem());
  const dir = tempDir('config-check');
  after(async () => {
    await removeNamespace(cz);
    await removeNamespace(kz);
  });

  /** CZ's config as a file the CLI reads (its own namespaces, absolute key paths), edited. */
  function configFile(edit: (raw: Record<string, any>) => void, config: Config = cz): string {
    const file = configFileFor(config);
    const raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, any>;
    edit(raw);
    writeFileSync(file, JSON.stringify(raw));
    return file;
  }

  /** The problem lines of `accord config check FILE` and its exit code. */
  async function check(file: string, env: NodeJS.ProcessEnv = process.env) {
    const r = await accord(['config', 'check', file], env);
    return { code: r.code, lines: r.stderr.trim().split('\n') };
  }

  it('passes the config of a test gateway as it is', async () => {
    const r = await accord(['config', 'check', configFile(() => undefined)]);
    expect(r.stderr).to.equal('');
    expect(r.code).to.equal(0);
  });

  it('a missing key file: keys.invalid at keys.privateJwks', async () => {
    const file = configFile((raw) => {
      raw.keys.privateJwks = join(dir, 'no-such-private.jwks.json');
    });
    const r = await check(file);
    expect(r.code).to.equal(2);
    expect(r.lines.filter((l) => /^keys\.privateJwks: .*ENOENT.* \(keys\.invalid\)$/.test(l))).to.have.length(
      1,
    );
  });

  it('an unset variable: config.invalid at admin.tokenEnv', async () => {
    const file = configFile((raw) => {
      raw.admin = { port: 0, tokenEnv: 'ACCORD_TEST_UNSET_ADMIN_TOKEN' };
    });
    const env = { ...process.env };
    delete env.ACCORD_TEST_UNSET_ADMIN_TOKEN;
    const r = await check(file, env);
    expect(r.code).to.equal(2);
    expect(r.lines).to.include(
      'admin.tokenEnv: environment variable ACCORD_TEST_UNSET_ADMIN_TOKEN is not set (config.invalid)',
    );
  });

  it('an unknown notifying authority: config.invalid at treaty.notifyingAuthorities.1', async () => {
    const file = configFile((raw) => {
      raw.treaty = { notifyingAuthorities: ['cz-pp-ipc', 'cz-nobody'] };
    });
    const r = await check(file);
    expect(r.code).to.equal(2);
    expect(r.lines).to.include(
      "treaty.notifyingAuthorities.1: cz-nobody is not one of this party's listed authorities (config.invalid)",
    );
  });

  it('an unwritable audit folder: config.invalid at records.auditFile', async () => {
    // A regular file where the folder should be: no user, root included, can create the log there.
    const notAFolder = join(dir, 'not-a-folder');
    writeFileSync(notAFolder, '');
    const file = configFile((raw) => {
      raw.records = { auditFile: join(notAFolder, 'audit', 'cz.jsonl') };
    });
    const r = await check(file);
    expect(r.code).to.equal(2);
    expect(
      r.lines.filter((l) => /^records\.auditFile: .*not a folder.* \(config\.invalid\)$/.test(l)),
    ).to.have.length(1);
  });

  it('lists every problem, not the first one only', async () => {
    const file = configFile((raw) => {
      raw.keys.privateJwks = join(dir, 'no-such-private.jwks.json');
      raw.treaty = { notifyingAuthorities: ['cz-nobody'] };
    });
    const r = await check(file);
    expect(r.lines.filter((l) => /\((keys|config)\.invalid\)$/.test(l))).to.have.length(2);
    expect(r.lines.at(-1)).to.match(/: 2 problem\(s\)$/);
  });

  describe('accord start runs the same checks', () => {
    it('with the admin-token variable unset: exits non-zero with one line, and does not hang', async () => {
      const file = configFile((raw) => {
        raw.admin = { port: 0, tokenEnv: 'ACCORD_TEST_UNSET_ADMIN_TOKEN' };
      });
      const env = { ...process.env };
      delete env.ACCORD_TEST_UNSET_ADMIN_TOKEN;
      const r = await accord(['start', '--config', file], env);
      expect(r.hung, `still running after 30 s; stderr: ${r.stderr}`).to.equal(false);
      expect(r.code).to.equal(2);
      expect(r.stderr.trim().split('\n')).to.deep.equal([
        'config.invalid: environment variable ACCORD_TEST_UNSET_ADMIN_TOKEN is not set (at admin.tokenEnv)',
      ]);
    });

    it('with an unknown notifying authority: refuses to start, exit 2, one line', async () => {
      const file = configFile((raw) => {
        raw.treaty = { notifyingAuthorities: ['cz-nobody'] };
      });
      const r = await accord(['start', '--config', file]);
      expect(r.hung, `still running after 30 s; stdout: ${r.stdout.slice(-2000)}`).to.equal(false);
      expect(r.code).to.equal(2);
      expect(r.stderr.trim().split('\n')).to.deep.equal([
        "config.invalid: cz-nobody is not one of this party's listed authorities (at treaty.notifyingAuthorities.0)",
      ]);
    });
  });
});
