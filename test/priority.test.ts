/**
 * Art. 9(1): "In urgent cases …". An urgent request has a priority lane end to end: queued behind bulk
 * traffic in the outbox, it overtakes it — through the sending gateway, the peer link, the receiving
 * gateway and into the inbox.
 */
import { expect } from 'chai';
import { pino } from 'pino';
import type { SubmissionInput } from '../src/client/index.js';
import { names } from '../src/config.js';
import { Gateway } from '../src/gateway.js';
import { COPY_HEADER } from '../src/pipeline/dispatch.js';
import {
  authority,
  drainMessages,
  example,
  ingressWithoutGateway,
  pairConfigs,
  removeNamespace,
  startPair,
  uniqueStem,
  type Pair,
} from './helpers/harness.js';

describe('Art. 9(1): the urgent lane', function () {
  this.timeout(120_000);
  let pair: Pair;
  let restarted: Gateway | undefined;

  before(async () => {
    pair = await startPair();
  });
  after(async () => {
    await restarted?.stop();
    await pair.close();
  });

  it('an urgent request queued behind 300 bulk messages overtakes them', async () => {
    const BULK = 300;
    const czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
    const kzMia = await pair.authority(pair.kzConfig, 'kz-mia');
    // The sending gateway is down while its outbox fills: bulk first, the urgent request last.
    await pair.cz.stop();
    for (let i = 0; i < BULK; i++) {
      const doc = example('travel-document', `bulk-${i}`);
      doc.to = { party: 'KZ', authority: 'kz-mia' };
      await czIpc.client.submit(doc as SubmissionInput);
    }
    const urgent = example('request', 'urgent-1');
    urgent.priority = 'urgent';
    const { messageId } = await czIpc.client.submit(urgent as SubmissionInput);

    restarted = await Gateway.start(pair.czConfig, pino({ level: 'silent' }));
    await kzMia.inbox.waitFor((d) => d.envelope.id === messageId, 60_000, 'the urgent request');
    // Every message arrives; only the order differs.
    await kzMia.inbox.waitFor(() => kzMia.inbox.items.length === BULK + 1, 60_000, 'all messages');
    const position = kzMia.inbox.items.findIndex((d) => d.envelope.id === messageId);
    // In arrival order it would be last (index 300). It may share the first batch the gateway takes
    // in (the prefetch window) but must not wait behind the queue.
    expect(position, `urgent request delivered as number ${position + 1}`).to.be.lessThan(
      pair.czConfig.amqp.prefetch + 1,
    );
    expect(kzMia.inbox.items[position]!.envelope.priority).to.equal('urgent');
  });
});

describe('Art. 9(1): an urgent request overtakes bulk traffic already taken in by the gateways', function () {
  this.timeout(120_000);
  let pair: Pair;

  before(async () => {
    // A prefetch window wide enough for all the bulk traffic, one handler at a time: every bulk
    // message is handed to the gateways at once and waits at their gates (amqp.concurrency).
    pair = await startPair((raw) => {
      raw.amqp.prefetch = 400;
      raw.amqp.concurrency = 1;
    });
  });
  after(() => pair.close());

  it('goes ahead of the deliveries waiting in both gateways, not behind them', async () => {
    const BULK = 300;
    const czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
    const kzMia = await pair.authority(pair.kzConfig, 'kz-mia');
    for (let i = 0; i < BULK; i++) {
      const doc = example('travel-document', `taken-${i}`);
      doc.to = { party: 'KZ', authority: 'kz-mia' };
      await czIpc.client.submit(doc as SubmissionInput);
    }
    // Bulk traffic is flowing and most of it is still inside the gateways.
    await kzMia.inbox.waitFor(() => kzMia.inbox.items.length >= 10, 60_000, 'the first bulk messages');
    const before = kzMia.inbox.items.length;
    const urgent = example('request', 'urgent-taken');
    urgent.priority = 'urgent';
    const { messageId } = await czIpc.client.submit(urgent as SubmissionInput);
    await kzMia.inbox.waitFor(() => kzMia.inbox.items.length === BULK + 1, 60_000, 'all messages');
    const position = kzMia.inbox.items.findIndex((d) => d.envelope.id === messageId);
    // Behind it: only what was in a handler at either gateway, or already past them, when it came.
    expect(before, 'bulk messages still inside the gateways when the urgent one came').to.be.lessThan(
      BULK - 100,
    );
    expect(
      position,
      `urgent request delivered as number ${position + 1}, ${before} had arrived`,
    ).to.be.lessThan(before + 10);
  });
});

describe('Art. 9(1): the resends of an urgent message', function () {
  this.timeout(40_000);

  it('go in the urgent lane, with the same properties as the first send', async () => {
    const { cz, kz } = pairConfigs(uniqueStem(), (raw) => {
      raw.delivery = { receiptTimeoutMs: 300, maxResends: 2, poisonAttempts: 5 };
    });
    // KZ's gateway is down: no receipt comes, and every copy CZ sends waits in KZ's ingress.
    await ingressWithoutGateway(kz);
    const gw = await Gateway.start(cz, pino({ level: 'silent' }));
    const ipc = await authority(cz, 'cz-pp-ipc');
    try {
      const urgent = example('request', 'urgent-resent');
      urgent.priority = 'urgent';
      const { messageId } = await ipc.client.submit(urgent as SubmissionInput);
      await ipc.events.waitFor((e) => e.type === 'failed' && e.messageId === messageId, 20_000, 'failed');
      const copies = await drainMessages(names(kz.namespace).ingress);
      // The first send and two resends.
      expect(copies).to.have.length(3);
      const props = copies.map(({ properties: p }) => ({
        priority: p.priority as unknown,
        messageId: p.messageId as unknown,
        contentType: p.contentType as unknown,
        deliveryMode: p.deliveryMode as unknown,
      }));
      for (const p of props) {
        // docs/protocol.md [P-AMQP-3], [P-AMQP-4], [P-AMQP-6]: persistent, typed, the id, the urgent lane.
        expect(p).to.deep.equal({ priority: 9, messageId, contentType: 'application/jose', deliveryMode: 2 });
      }
      // Each copy is told apart by its own copy token (inbound.ts relies on it).
      const tokens = copies.map((c) => (c.properties.headers as Record<string, unknown>)[COPY_HEADER]);
      expect(new Set(tokens).size).to.equal(3);
    } finally {
      await ipc.client.close();
      await gw.stop();
      await removeNamespace(cz);
      await removeNamespace(kz);
    }
  });
});
