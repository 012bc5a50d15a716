/** `accord status --json` for scripts, and `status` with Redis down: one line with a code, no stack trace. */
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import type { StatusReport } from '../src/cli/status.js';
import { configFileFor, runCli, startPair, type Pair } from './helpers/harness.js';

describe('accord status for scripts and outages', function () {
  this.timeout(60_000);
  let pair: Pair;
  before(async () => {
    pair = await startPair();
  });
  after(async () => {
    await pair.close();
  });

  it('prints the same facts as one JSON object with --json', async () => {
    const file = configFileFor(pair.czConfig);
    const r = await runCli(['status', '--config', file, '--json']);
    expect(r.stdout.trim().split('\n'), r.stderr).to.have.length(1);
    const report = JSON.parse(r.stdout) as StatusReport;
    expect(report.party).to.equal('CZ');
    expect(report.consuming).to.equal(true);
    expect(report.deadLetters).to.equal(0);
    const outbox = report.queues.find((q) => q.queue.endsWith('accord.outbox'));
    expect(outbox?.consumers).to.be.greaterThan(0);
    expect(r.code).to.equal(report.healthy ? 0 : 1);
    // The text form says the same.
    const text = await runCli(['status', '--config', file]);
    expect(text.stdout).to.contain('gateway consuming:   yes');
  });

  it('says in one line, with its code, that Redis cannot be reached, and prints no stack trace', async () => {
    const file = configFileFor(pair.czConfig);
    const raw = JSON.parse(readFileSync(file, 'utf8')) as { redis: { url: string } };
    raw.redis.url = 'redis://127.0.0.1:1';
    writeFileSync(file, JSON.stringify(raw));
    const r = await runCli(['status', '--config', file]);
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.contain('infra.unavailable');
    expect(r.stderr).not.to.match(/^\s+at /m);
    expect(r.stderr).not.to.contain('Unhandled error event');
    expect(r.stderr.trim().split('\n'), r.stderr).to.have.length(1);
  });
});
