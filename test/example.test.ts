/**
 * examples/case-system: a case system an integrator can copy. It imports only the public client
 * (`accord-gateway/client`), takes `--config`, and runs against gateways that are already up;
 * `npm run example` (scripts/example.ts) starts the demo gateways for it when they are not running.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { checkConfigData } from '../src/config.js';
import { AMQP_URL, ROOT, removeNamespace, startPair, uniqueStem, type Pair } from './helpers/harness.js';

const EXAMPLE = join(ROOT, 'dist', 'examples', 'case-system', 'main.js');

async function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  try {
    const { stdout, stderr } = await promisify(execFile)('node', args, {
      cwd: ROOT,
      env: { ...process.env, ACCORD_LOG_LEVEL: 'error', ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('examples/case-system', function () {
  this.timeout(120_000);
  let dir: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'accord-example-test-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('imports nothing of Accord but the public client', () => {
    const source = readFileSync(join(ROOT, 'examples', 'case-system', 'main.ts'), 'utf8');
    const imports = [...source.matchAll(/^import .* from '([^']+)';$/gm)].map((m) => m[1]);
    expect(imports.length).to.be.greaterThan(0);
    for (const i of imports) expect(i, i).to.match(/^(node:|zod$|accord-gateway\/client$)/);
  });

  it('refuses a missing --config and a bad settings file with the field, exit 2', async () => {
    const none = await run([EXAMPLE]);
    expect(none.code).to.equal(2);
    expect(none.stderr).to.contain('--config FILE is required');
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ requester: { url: 'http://x', party: 'CZ', authority: 'a' } }));
    const r = await run([EXAMPLE, '--config', bad]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain('requester.url: an amqp:// or amqps:// URL');
  });

  describe('against gateways that are already running', () => {
    let pair: Pair;
    before(async () => {
      pair = await startPair();
    });
    after(async () => {
      await pair.close();
    });

    const settings = (czNamespace: string) => ({
      requester: { url: AMQP_URL, party: 'CZ', namespace: czNamespace, authority: 'cz-pp-ipc' },
      responder: { url: AMQP_URL, party: 'KZ', namespace: pair.kzConfig.namespace, authority: 'kz-mia' },
      timeoutS: 20,
    });

    it('submits a request, the other desk replies, and the reply arrives', async () => {
      const file = join(dir, 'desks.json');
      writeFileSync(file, JSON.stringify(settings(pair.czConfig.namespace!)));
      const { code, stdout, stderr } = await run([EXAMPLE, '--config', file]);
      expect(code, stderr).to.equal(0);
      expect(stdout).not.to.contain('starting them');
      expect(stdout).to.match(/\[CZ cz-pp-ipc\] request accepted: [0-9a-f-]{36}/);
      expect(stdout).to.match(/\[KZ kz-mia\] inbox request .* signed by cz-sig-/);
      expect(stdout).to.contain('[KZ kz-mia] reply accepted');
      expect(stdout).to.contain('[CZ cz-pp-ipc] reply received: The passport N12345678 is reported stolen');
    });

    it('says which namespace has no gateway, in one line, exit 1', async () => {
      const file = join(dir, 'typo.json');
      writeFileSync(file, JSON.stringify(settings(`${pair.czConfig.namespace!}x`)));
      const { code, stderr } = await run([EXAMPLE, '--config', file]);
      expect(code).to.equal(1);
      expect(stderr.trim().split('\n')).to.have.length(1);
      expect(stderr).to.contain(
        `config.invalid: no Accord gateway under namespace '${pair.czConfig.namespace!}x'`,
      );
      expect(stderr).to.contain('(at namespace)');
    });
  });

  describe('npm run example', () => {
    const prefix = uniqueStem();
    after(async () => {
      for (const party of ['cz', 'kz']) {
        const raw = JSON.parse(readFileSync(join(ROOT, 'config', `${party}.json`), 'utf8')) as Record<
          string,
          any
        >;
        raw.namespace = `${prefix}-${party}`;
        const check = checkConfigData(raw, join(ROOT, 'config'));
        if (check.ok) await removeNamespace(check.config);
      }
    });

    it('starts the demo gateways when they are not running, runs the example against them, and stops them', async () => {
      const { code, stdout, stderr } = await run([join(ROOT, 'dist', 'scripts', 'example.js')], {
        ACCORD_DEMO_PREFIX: prefix,
      });
      expect(code, stderr).to.equal(0);
      expect(stdout).to.contain('demo gateways not running; starting them');
      expect(stdout).to.contain('[CZ cz-pp-ipc] reply received: The passport N12345678 is reported stolen');
    });
  });
});
