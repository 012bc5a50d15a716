/**
 * The admin HTTP server and who may reach it: /healthz and /readyz without a token (/readyz then names
 * its checks, never why one fails); everything else only with the bearer token; /metrics as Prometheus
 * text by its conventions, whose counters follow real traffic; /readyz naming the dependency that fails.
 */
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SubmissionInput } from '../src/client/index.js';
import { checkConfigData, names } from '../src/config.js';
import { TcpProxy } from '../scripts/chaos/tcp-proxy.js';
import {
  ROOT,
  configFileFor,
  example,
  runCli,
  publishRaw,
  sealAsCz,
  startPair,
  testEnvelope,
  type Pair,
  type TestAuthority,
} from './helpers/harness.js';

const TOKEN = 'test-only-admin-token-0123456789abcdef';

/**
 * A strict reading of the Prometheus text format: every sample is `name{labels} value`. A value may be
 * NaN in any case, as Prometheus's parser (Go's ParseFloat) reads it: prom-client prints the event-loop
 * lag of a process that has no sample yet as `Nan`.
 */
function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m =
      /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|[Nn][Aa][Nn]|\+Inf|-Inf)$/.exec(
        line,
      );
    if (!m) throw new Error(`not Prometheus text: ${line}`);
    samples.set(`${m[1]}${m[2] ?? ''}`, /^nan$/i.test(m[3]!) ? NaN : Number(m[3]));
  }
  return samples;
}

describe('admin server: health, readiness, metrics, token', function () {
  this.timeout(60_000);
  let pair: Pair;
  let proxy: TcpProxy;
  let base: string;
  let czIpc: TestAuthority;
  let kzMia: TestAuthority;

  before(async () => {
    process.env.ACCORD_TEST_ADMIN_TOKEN = TOKEN;
    proxy = await new TcpProxy('127.0.0.1', 5672).start();
    pair = await startPair((raw) => {
      if (raw.party !== 'CZ') return;
      raw.admin = { port: 0, tokenEnv: 'ACCORD_TEST_ADMIN_TOKEN' };
      // CZ's peer link goes through a proxy the test can cut.
      raw.peer.amqpUrl = proxy.url();
    });
    const address = pair.cz.adminAddress!;
    base = `http://${address.address}:${address.port}`;
    czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
    kzMia = await pair.authority(pair.kzConfig, 'kz-mia');
  });
  after(async () => {
    await pair.close();
    await proxy.close();
  });

  const get = (path: string, token: string | null = TOKEN) =>
    fetch(`${base}${path}`, token === null ? {} : { headers: { authorization: `Bearer ${token}` } });

  it('listens on the loopback interface by default', () => {
    expect(pair.cz.adminAddress!.address).to.equal('127.0.0.1');
  });

  it('/healthz and /readyz answer without a token; every other path needs the exact token', async () => {
    expect((await get('/healthz', null)).status).to.equal(200);
    expect((await get('/readyz', null)).status).to.equal(200);
    for (const path of ['/metrics', '/api/alerts', '/api/summary', '/nothing']) {
      expect((await get(path, null)).status, path).to.equal(401);
      expect((await get(path, `${TOKEN}x`)).status, path).to.equal(401);
      expect((await get(path, TOKEN.slice(0, -1))).status, path).to.equal(401);
    }
    expect((await get('/nothing')).status).to.equal(404);
    const alerts = (await (await get('/api/alerts')).json()) as { open: unknown[]; recent: unknown[] };
    expect(alerts.open).to.be.an('array');
    expect(alerts.recent).to.be.an('array');
    expect(
      (await fetch(`${base}/metrics`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } }))
        .status,
    ).to.equal(405);
  });

  it('/metrics parses as Prometheus text and counts real traffic', async () => {
    const before = parseMetrics(await (await get('/metrics')).text());
    const { messageId } = await czIpc.client.submit(example('request', 'metrics-1') as SubmissionInput);
    await czIpc.events.waitFor((e) => e.type === 'delivered' && e.messageId === messageId, 20_000, 'receipt');
    await kzMia.inbox.waitFor((d) => d.envelope.id === messageId, 20_000, 'delivery');
    const key = (outcome: string) => `accord_messages_${outcome}_total{kind="request"}`;
    // The receipt is counted just after its event commits: read until it shows.
    let after = new Map<string, number>();
    for (let i = 0; i < 50; i++) {
      const res = await get('/metrics');
      expect(res.headers.get('content-type')).to.match(/^text\/plain; version=0\.0\.4/);
      after = parseMetrics(await res.text());
      if ((after.get(key('delivered')) ?? 0) > (before.get(key('delivered')) ?? 0)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((after.get(key('sent')) ?? 0) - (before.get(key('sent')) ?? 0)).to.equal(1);
    expect((after.get(key('delivered')) ?? 0) - (before.get(key('delivered')) ?? 0)).to.equal(1);
    expect(after.get('accord_receipt_latency_seconds_count')).to.be.greaterThan(0);
    // What CZ wrote to the brokers for it: the sealed message to the peer, its status events, and the
    // commits of the receipt's handling (which publishes the `delivered` event in a transaction).
    const grew = (k: string) => (after.get(k) ?? 0) - (before.get(k) ?? 0);
    expect(grew('accord_broker_published_total{kind="peer"}')).to.be.at.least(1);
    expect(grew('accord_broker_published_total{kind="event"}')).to.be.at.least(2);
    expect(grew('accord_broker_published_total{kind="inbox"}')).to.equal(0);
    expect(grew('accord_broker_commits_total')).to.be.at.least(1);
    expect(after.get('accord_peer_link_up')).to.equal(1);
    expect(after.get('accord_dlq_depth')).to.equal(0);
    expect(after.has('accord_reviews_pending')).to.equal(true);
  });

  it('/metrics follows the conventions: no constant label, build info, sent apart from delivered, process metrics, backlogs', async () => {
    const text = await (await get('/metrics')).text();
    const samples = parseMetrics(text);
    // The party shows once, in accord_build_info; no other series carries it.
    const build = [...samples.keys()].filter((k) => k.startsWith('accord_build_info{'));
    expect(build).to.have.length(1);
    expect(build[0]).to.match(/version="\d+\.\d+\.\d+[^"]*"/);
    expect(build[0]).to.contain('party="CZ"');
    expect(samples.get(build[0]!)).to.equal(1);
    const withParty = [...samples.keys()].filter(
      (k) => k.includes('party=') && !k.startsWith('accord_build_info{'),
    );
    expect(withParty, withParty.join('\n')).to.deep.equal([]);
    // Sent and delivered are two counters: summing either never counts one message twice.
    expect(text).to.contain('# TYPE accord_messages_sent_total counter');
    expect(text).to.contain('# TYPE accord_messages_delivered_total counter');
    expect(text).not.to.contain('accord_messages_total');
    // Broker work: one series per kind of publish from the start (a rate over them never misses a kind).
    expect(text).to.contain('# TYPE accord_broker_published_total counter');
    expect(text).to.contain('# TYPE accord_broker_commits_total counter');
    for (const kind of ['peer', 'heartbeat', 'inbox', 'event', 'delivered-log', 'dead-letter', 'held']) {
      expect(samples.get(`accord_broker_published_total{kind="${kind}"}`), kind).to.be.a('number');
    }
    expect(
      [...samples.keys()].filter((k) => /^accord_messages_(sent|delivered)_total\{.*outcome=/.test(k)),
    ).to.deep.equal([]);
    // prom-client's process and Node.js metrics.
    expect(samples.has('process_cpu_user_seconds_total')).to.equal(true);
    expect(samples.has('nodejs_eventloop_lag_seconds')).to.equal(true);
    // Base units: key expiry as a timestamp, no days.
    expect(text).to.contain('# TYPE accord_key_expiry_timestamp_seconds gauge');
    expect(text).not.to.contain('_days');
    // Backlogs: ready messages per queue, and what this gateway holds unacknowledged.
    const n = names(pair.czConfig.namespace);
    for (const q of [n.outbox, n.ingress, n.dlq]) {
      expect(samples.get(`accord_queue_ready_messages{queue="${q}"}`), q).to.be.a('number');
      expect(samples.get(`accord_queue_unacked_messages{queue="${q}"}`), q).to.be.a('number');
    }
  });

  it('/metrics: consents pending, destructions due and overdue, key expiry; /readyz checks the audit log', async () => {
    const read = async () => parseMetrics(await (await get('/metrics')).text());
    const until = async (name: string, value: number) => {
      for (let i = 0; i < 100; i++) {
        if ((await read()).get(name) === value) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect((await read()).get(name), name).to.equal(value);
    };
    // Art. 10(1), 11(2): a consent request waits for its answer.
    const ask = example('consent-request', 'metrics-consent');
    const { messageId: askId } = await czIpc.client.submit(ask as SubmissionInput);
    await until('accord_consents_pending', 1);
    const answer = example('consent', 'metrics-consent/answer');
    answer.from = 'kz-mia';
    answer.body.inReplyTo = askId;
    await kzMia.client.submit(answer as SubmissionInput);
    await until('accord_consents_pending', 0);

    // Art. 10(5): personal data whose deadline passed four days ago (past the 72 h grace), not destroyed.
    const env = testEnvelope({
      from: { party: 'KZ', authority: 'kz-mia' },
      to: { party: 'CZ', authority: 'cz-pp-ipc' },
      handling: {
        purposes: ['combating-crime'],
        conditions: [],
        sensitive: [],
        destroyBy: new Date(Date.now() - 4 * 86_400_000).toISOString(),
      },
    });
    await publishRaw(names(pair.czConfig.namespace).ingress, await sealAsCz(pair.kzConfig, env));
    await until('accord_destructions_due', 1);
    expect((await read()).get('accord_destructions_overdue')).to.equal(1);
    expect(await (await get('/metrics')).text()).to.contain(
      '# TYPE accord_key_expiry_timestamp_seconds gauge',
    );

    const ready = (await (await get('/readyz')).json()) as { checks: Record<string, string> };
    expect(ready.checks['audit-log']).to.equal('ok');

    // `accord status` shows the same facts in the terminal, and exits 1 while a destruction is overdue.
    const file = configFileFor(pair.czConfig);
    const raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    const { address, port } = pair.cz.adminAddress!;
    raw.admin = { host: address, port, tokenEnv: 'ACCORD_TEST_ADMIN_TOKEN' };
    writeFileSync(file, JSON.stringify(raw));
    const status = await runCli(['status', '--config', file]);
    expect(status.code, status.stderr).to.equal(1);
    expect(status.stdout).to.contain(
      'Art. 10(5) destroy:   1 past their deadline, 1 of them past the confirmation grace',
    );
    expect(status.stdout).to.contain('consents pending:    0');
    expect(status.stdout).to.match(/in flight: +\d+ awaiting a receipt/);
    expect(status.stdout).to.match(/key: +own sig \S+ active/);
  });

  it('/readyz is ready with every check ok, and names the peer broker when the link is down', async () => {
    const ok = await get('/readyz');
    expect(ok.status).to.equal(200);
    expect(await ok.json()).to.deep.include({ ready: true, failing: [] });
    const probe = await get('/readyz', null);
    expect(probe.status).to.equal(200);
    expect(await probe.json()).to.deep.include({ ready: true, failing: [] });
    proxy.cut();
    try {
      let body: { ready: boolean; failing: string[]; checks: Record<string, string> } | undefined;
      for (let i = 0; i < 100; i++) {
        const res = await get('/readyz');
        if (res.status === 503) {
          body = (await res.json()) as typeof body;
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(body).to.deep.include({ ready: false, failing: ['peer-broker'] });
      expect(body!.checks['local-broker']).to.equal('ok');
      expect(body!.checks['peer-broker']).to.equal('not connected');
      // Without the token, a load balancer's probe sees the same verdict and names, never the reasons.
      const probe = await get('/readyz', null);
      expect(probe.status).to.equal(503);
      const seen = (await probe.json()) as { failing: string[]; checks: Record<string, string> };
      expect(seen.failing).to.deep.equal(['peer-broker']);
      expect(seen.checks).to.deep.equal({
        'local-broker': 'ok',
        'peer-broker': 'failing',
        redis: 'ok',
        keys: 'ok',
        'audit-log': 'ok',
      });
      const metrics = parseMetrics(await (await get('/metrics')).text());
      expect(metrics.get('accord_peer_link_up')).to.equal(0);
    } finally {
      proxy.restore();
    }
  });

  it('the config refuses an admin server without a token source', () => {
    const raw = JSON.parse(readFileSync(join(ROOT, 'config', 'cz.json'), 'utf8')) as Record<string, any>;
    raw.admin = { port: 9464 };
    const check = checkConfigData(raw, join(ROOT, 'config'));
    expect(check.ok).to.equal(false);
    expect(!check.ok && check.issues.join('\n')).to.contain('admin.tokenEnv');
  });
});
