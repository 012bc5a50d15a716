/**
 * deploy/prometheus: the alerting rules shipped for Prometheus are valid (`promtool check rules`), fire
 * and clear as their unit tests say (`promtool test rules`), and name only metrics the gateway exports.
 * promtool comes with Debian's `prometheus` package; without it the promtool cases are skipped, saying
 * how to install it (`npm test` run as root installs it: scripts/ensure-chromium.sh).
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './helpers/harness.js';

const DIR = join(ROOT, 'deploy', 'prometheus');
const RULES = join(DIR, 'accord-rules.yml');

function promtool(...args: string[]) {
  return spawnSync('promtool', args, { cwd: DIR, encoding: 'utf8', timeout: 60_000 });
}

const present = promtool('--version').status === 0;

describe('deploy/prometheus: alerting rules', function () {
  this.timeout(60_000);

  before(function () {
    if (present) return;
    console.log('      promtool not found: skipped. Install it with: apt-get install -y prometheus');
  });

  it('passes promtool check rules', function () {
    if (!present) return this.skip();
    const r = promtool('check', 'rules', RULES);
    expect(r.status, `${r.stdout}${r.stderr}`).to.equal(0);
  });

  it('passes its promtool unit tests: each alert fires when its condition holds and clears after', function () {
    if (!present) return this.skip();
    const r = promtool('test', 'rules', 'accord-rules.test.yml');
    expect(r.status, `${r.stdout}${r.stderr}`).to.equal(0);
  });

  it('names only metrics the gateway exports', () => {
    const rules = readFileSync(RULES, 'utf8');
    const exported = readFileSync(join(ROOT, 'src', 'admin', 'metrics.ts'), 'utf8');
    const named = new Set(rules.match(/\baccord_[a-z_]+\b/g) ?? []);
    expect(named.size).to.be.greaterThan(5);
    for (const name of named) expect(exported, name).to.contain(`'${name}'`);
  });
});
