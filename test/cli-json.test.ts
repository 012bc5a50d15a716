/**
 * `--json` for scripts on the commands that print state (`status`, `trace`, `keys list`), and `status`
 * with Redis down: one line with a code, no stack trace.
 */
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import type { SubmissionInput } from '../src/client/index.js';
import type { StatusReport } from '../src/cli/status.js';
import { configFileFor, example, runCli, startPair, type Pair } from './helpers/harness.js';

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

  it('prints a message trace as one JSON object with --json, and says when it knows nothing of an id', async () => {
    const czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
    const { messageId } = await czIpc.client.submit(example('request', 'json-trace') as SubmissionInput);
    await czIpc.events.waitFor(
      (e) => e.type === 'delivered' && e.messageId === messageId,
      15_000,
      'delivered',
    );
    const file = configFileFor(pair.czConfig);
    const r = await runCli(['trace', messageId, '--config', file, '--json']);
    expect(r.code, r.stderr).to.equal(0);
    const trace = JSON.parse(r.stdout) as {
      messageId: string;
      known: boolean;
      steps: { at: string; what: string }[];
    };
    expect(trace.messageId).to.equal(messageId);
    expect(trace.known).to.equal(true);
    expect(trace.steps.length).to.be.greaterThan(0);
    expect(trace.steps.map((s) => s.at)).to.deep.equal(trace.steps.map((s) => s.at).sort());
    const unknown = await runCli([
      'trace',
      '00000000-0000-4000-8000-000000000000',
      '--config',
      file,
      '--json',
    ]);
    expect(unknown.code).to.equal(1);
    expect((JSON.parse(unknown.stdout) as { known: boolean }).known).to.equal(false);
  });

  it('lists the keys as one JSON object with --json, without key material', async () => {
    const r = await runCli(['keys', 'list', '--config', configFileFor(pair.czConfig), '--json']);
    expect(r.code, r.stderr).to.equal(0);
    const listing = JSON.parse(r.stdout) as { keys: Record<string, unknown>[]; pruned: unknown[] };
    expect(listing.keys.some((k) => k.owner === 'own' && k.use === 'sig' && k.state === 'active')).to.equal(
      true,
    );
    expect(listing.keys.some((k) => k.owner === 'peer')).to.equal(true);
    for (const k of listing.keys) {
      expect(k).to.have.property('thumbprint');
      for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) expect(k).not.to.have.property(secret);
    }
  });

  it('prints the peer directory, pending updates and the Art. 17/18 state as one JSON object each with --json', async () => {
    const file = configFileFor(pair.czConfig);
    const show = await runCli(['directory', 'show', '--config', file, '--json']);
    expect(show.code, show.stderr).to.equal(0);
    const dir = JSON.parse(show.stdout) as { party: string; source: string; authorities: { id: string }[] };
    expect(dir).to.include({ party: 'KZ', source: 'config' });
    expect(dir.authorities.map((a) => a.id)).to.include('kz-mia');
    const pending = await runCli(['directory', 'pending', '--config', file, '--json']);
    expect(pending.code, pending.stderr).to.equal(0);
    expect(JSON.parse(pending.stdout)).to.deep.equal({ pending: [] });
    const treaty = await runCli(['treaty', 'status', '--config', file, '--json']);
    expect(treaty.code, treaty.stderr).to.equal(0);
    expect(treaty.stdout.trim().split('\n')).to.have.length(1);
    expect(JSON.parse(treaty.stdout)).to.deep.equal({ termination: null, notices: [] });
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
