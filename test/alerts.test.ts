/**
 * Alerts: each fires, to the log and to a signed webhook, with a stable code and no content —
 * an overdue obligation, the peer link down longer than configured (and resolved when it is back), the
 * peer gateway silent (and resolved when it returns), and a delivery that failed.
 */
import { expect } from 'chai';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import type { SubmissionInput } from '../src/client/index.js';
import { TcpProxy } from '../scripts/chaos/tcp-proxy.js';
import { Gateway } from '../src/gateway.js';
import {
  Collector,
  REDIS_URL,
  eventually,
  example,
  memoryLogger,
  publishRaw,
  sealAsCz,
  startPair,
  testEnvelope,
  type Pair,
  type TestAuthority,
} from './helpers/harness.js';
import { names } from '../src/config.js';

const SECRET = 'test-only-webhook-secret-0123456789abcdef';

/** What a webhook receiver does: recompute the HMAC of `<t>.<body>` and compare in constant time. */
function verified(header: string | string[] | undefined, body: string): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(typeof header === 'string' ? header : '');
  if (!m) return false;
  const expected = createHmac('sha256', SECRET).update(`${m[1]}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(m[2]!, 'hex'));
}

describe('alerts to the log and a webhook', function () {
  this.timeout(60_000);
  let pair: Pair;
  let proxy: TcpProxy;
  let server: Server;
  let czIpc: TestAuthority;
  const received = new Collector<Record<string, unknown>>();
  let requests = 0;
  let unsigned = 0;

  before(async () => {
    process.env.ACCORD_TEST_WEBHOOK_SECRET = SECRET;
    // The webhook receiver: a plain HTTP server collecting what the gateway posts, whose first answer
    // is a 500 (the gateway must try that notification again). It keeps only what is signed.
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString('utf8')));
      req.on('end', () => {
        requests += 1;
        const signed = verified(req.headers['x-accord-signature'], body);
        if (!signed) unsigned += 1;
        const status = !signed ? 401 : requests === 1 ? 500 : 204;
        if (status === 204) received.push(JSON.parse(body) as Record<string, unknown>);
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const hook = `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`;
    proxy = await new TcpProxy('127.0.0.1', 5672).start();
    pair = await startPair((raw) => {
      // Heartbeats every second both ways; CZ calls KZ silent after three.
      raw.alerts = { heartbeatIntervalS: 1, peerSilentAfterS: 3 };
      if (raw.party !== 'CZ') return;
      raw.alerts = {
        ...raw.alerts,
        webhookUrl: hook,
        webhookSecretEnv: 'ACCORD_TEST_WEBHOOK_SECRET',
        peerDownAfterS: 1,
      };
      raw.peer.amqpUrl = proxy.url();
      raw.delivery = { receiptTimeoutMs: 300, maxResends: 1, poisonAttempts: 5 };
      // Art. 9(1): the written confirmation of an oral request is due 1.8 s after it.
      raw.policy = {
        ...raw.policy,
        oralConfirmationHours: 0.0005,
        // Art. 9(4): CZ refuses every drug-trafficking request by rule, with a notice at once.
        refusalRules: [
          {
            id: 'no-drugs',
            when: { crimeCategories: ['drug-trafficking'] },
            grounds: ['important-interests'],
            explanation: 'Handled through another channel.',
          },
        ],
      };
    });
    czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
  });
  after(async () => {
    await pair.close();
    await proxy.close();
    server.close();
  });

  it('alert.obligation_overdue: an oral request not confirmed in writing in time', async () => {
    await czIpc.client.submitRaw(
      Buffer.from(
        JSON.stringify({
          idempotencyKey: 'oral-alert',
          from: 'cz-pp-ipc',
          kind: 'oral-request',
          body: {
            to: { party: 'KZ', authority: 'kz-mia' },
            madeAt: new Date().toISOString(),
            summary: 'Urgent check of a passport, by telephone',
          },
        }),
      ),
    );
    const alert = await received.waitFor((a) => a.alert === 'alert.obligation_overdue', 20_000, 'the alert');
    expect(alert).to.include({
      party: 'CZ',
      authority: 'cz-pp-ipc',
      obligation: 'obligation.oral_confirmation_overdue',
    });
    expect(JSON.stringify(alert)).not.to.contain('passport');
    expect(pair.lines.some((l) => l.includes('"alert":"alert.obligation_overdue"'))).to.equal(true);
    // The first POST was answered 500 and came again; every POST was signed.
    expect(requests).to.be.greaterThan(received.items.length);
    expect(unsigned).to.equal(0);
  });

  it('alert.peer_link_down: the peer link down longer than alerts.peerDownAfterS, resolved once back', async () => {
    proxy.cut();
    try {
      const alert = await received.waitFor((a) => a.alert === 'alert.peer_link_down', 20_000, 'the alert');
      expect(alert.downForS).to.be.at.least(1);
      expect(alert.status).to.equal('firing');
    } finally {
      proxy.restore();
    }
    await received.waitFor(
      (a) => a.alert === 'alert.peer_link_down' && a.status === 'resolved',
      20_000,
      'the resolved notification',
    );
    // Once each, however long the link was down.
    expect(received.items.filter((a) => a.alert === 'alert.peer_link_down')).to.have.length(2);
  });

  it('alert.peer_gateway_silent: the peer gateway stops (its broker answers), resolved when it returns', async () => {
    // CZ has heard KZ's heartbeats (the Redis mark that arms the alert).
    const redis = new Redis(REDIS_URL);
    try {
      const mark = `${names(pair.czConfig.namespace).redisPrefix}peer:sends-heartbeats`;
      await eventually(
        async () => ((await redis.exists(mark)) === 1 ? true : undefined),
        20_000,
        'a heartbeat',
      );
    } finally {
      redis.disconnect();
    }
    const silent = (status: string) => (a: Record<string, unknown>) =>
      a.alert === 'alert.peer_gateway_silent' && a.status === status;
    expect(received.items.some(silent('firing'))).to.equal(false);
    await pair.kz.stop();
    const alert = await received.waitFor(silent('firing'), 20_000, 'the silent alert');
    expect(alert.silentForS).to.be.at.least(3);
    // KZ's gateway comes back on the same broker and namespace.
    pair.kz = await Gateway.start(pair.kzConfig, memoryLogger().log);
    await received.waitFor(silent('resolved'), 20_000, 'the resolved notification');
    expect(received.items.filter((a) => a.alert === 'alert.peer_gateway_silent')).to.have.length(2);
  });

  it('alert.delivery_failed: no receipt after the last resend', async () => {
    // KZ's gateway is down: its ingress still takes messages, nobody answers.
    await pair.kz.stop();
    await new Promise((r) => setTimeout(r, 1500)); // let CZ's peer link come back after the cut
    const { messageId } = await czIpc.client.submit(example('request', 'alert-failed') as SubmissionInput);
    const alert = await received.waitFor(
      (a) => a.alert === 'alert.delivery_failed' && a.messageId === messageId,
      30_000,
      'the alert',
    );
    expect(alert).to.include({ kind: 'request', authority: 'cz-pp-ipc' });
  });

  it('alert.refusal_notice_overdue: a refusal notice without a receipt in time (Art. 9(5))', async () => {
    // KZ's gateway is still down (previous test): a request sealed with KZ's keys reaches CZ, which
    // refuses it by rule; its notice waits at KZ's ingress without a receipt.
    const env = testEnvelope({
      kind: 'request',
      from: { party: 'KZ', authority: 'kz-mia' },
      to: { party: 'CZ', authority: 'cz-pp-ipc' },
      body: {
        crimeCategories: ['drug-trafficking'],
        informationTypes: ['criminal-offences'],
        assistanceTypes: [],
        summary: 'Shipment expected at Prague airport',
      },
      handling: { purposes: ['combating-crime'], conditions: [], sensitive: [] },
    });
    await publishRaw(names(pair.czConfig.namespace).ingress, await sealAsCz(pair.kzConfig, env));
    const alert = await received.waitFor(
      (a) => a.alert === 'alert.refusal_notice_overdue',
      30_000,
      'the refusal-notice alert',
    );
    expect(alert).to.include({ kind: 'refusal-notice', authority: 'cz-pp-ipc', party: 'CZ' });
    expect(JSON.stringify(alert)).not.to.contain('Handled through another channel');
  });
});
