/**
 * examples/case-system: the integrator's example runs with one command against the demo gateways
 * (starting them itself when they are not running) and exits 0 once its request was answered.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { checkConfigData } from '../src/config.js';
import { readFileSync } from 'node:fs';
import { ROOT, removeNamespace, uniqueStem } from './helpers/harness.js';

describe('examples/case-system', function () {
  this.timeout(120_000);
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

  it('submits a request, the other desk replies, and the reply arrives (demo gateways started for it)', async () => {
    const { stdout } = await promisify(execFile)(
      'node',
      [join(ROOT, 'dist', 'examples', 'case-system', 'main.js')],
      {
        cwd: ROOT,
        env: { ...process.env, ACCORD_DEMO_PREFIX: prefix, ACCORD_LOG_LEVEL: 'error' },
      },
    );
    expect(stdout).to.contain('demo gateways not running; starting them');
    expect(stdout).to.match(/\[CZ cz-pp-ipc\] request accepted: [0-9a-f-]{36}/);
    expect(stdout).to.match(/\[KZ kz-mia\] inbox request .* signed by cz-sig-/);
    expect(stdout).to.contain('[KZ kz-mia] reply accepted');
    expect(stdout).to.contain('[CZ cz-pp-ipc] reply received: The passport N12345678 is reported stolen');
  });
});
