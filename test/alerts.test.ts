/**
 * Alerts: each fires, to the log and to a webhook, with a stable code and no content —
 * an overdue obligation, the peer link down longer than configured, and a delivery that failed.
 */
import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SubmissionInput } from '../src/client/index.js';
import { TcpProxy } from '../scripts/chaos/tcp-proxy.js';
import {
  Collector,
  example,
  publishRaw,
  sealAsCz,
  startPair,
  testEnvelope,
  type Pair,
  type TestAuthority,
} from './helpers/harness.js';
import { names } from '../src/config.js';

describe('alerts to the log and a webhook', function () {
  this.timeout(60_000);
  let pair: Pair;
  let proxy: TcpProxy;
  let server: Server;
  let czIpc: TestAuthority;
  const received = new Collector<Record<string, unknown>>();

  before(async () => {
    // The webhook receiver: a plain HTTP server collecting what the gateway posts.
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString('utf8')));
      req.on('end', () => {
        received.push(JSON.parse(body) as Record<string, unknown>);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const hook = `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`;
    proxy = await new TcpProxy('127.0.0.1', 5672).start();
    pair = await startPair((raw) => {
      if (raw.party !== 'CZ') return;
      raw.alerts = { webhookUrl: hook, peerDownAfterS: 1 };
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
  });

  it('alert.peer_link_down: the peer link down longer than alerts.peerDownAfterS', async () => {
    proxy.cut();
    try {
      const alert = await received.waitFor((a) => a.alert === 'alert.peer_link_down', 20_000, 'the alert');
      expect(alert.downForS).to.be.at.least(1);
    } finally {
      proxy.restore();
    }
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
