import { expect } from 'chai';
import type { SubmissionInput } from '../src/client/index.js';
import { names } from '../src/config.js';
import amqp from 'amqplib';
import { drainQueue, startPair, type Pair, example as harnessExample } from './helpers/harness.js';

function example(kind: string, key: string): SubmissionInput {
  return harnessExample(kind, key) as SubmissionInput;
}

describe('walking skeleton: two gateways, end to end', () => {
  let pair: Pair;
  beforeEach(async () => {
    pair = await startPair();
  });
  afterEach(async () => {
    await pair.close();
  });

  it('delivers a signed, encrypted request from CZ to KZ, and a reply back, with receipts', async () => {
    const czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
    const kzMia = await pair.authority(pair.kzConfig, 'kz-mia');

    const { messageId } = await czIpc.client.submit(example('request', 'rt-1'));
    const delivered = await kzMia.inbox.waitFor(
      (d) => d.envelope.id === messageId,
      10_000,
      'the request at KZ',
    );
    expect(delivered.envelope.kind).to.equal('request');
    expect(delivered.envelope.from).to.deep.equal({ party: 'CZ', authority: 'cz-pp-ipc' });
    expect(delivered.envelope.to).to.deep.equal({ party: 'KZ', authority: 'kz-mia' });
    expect(delivered.envelope.handling.purposes).to.deep.equal(['combating-crime']);
    expect(delivered.verification.signatureAlg).to.equal('ES256');
    expect(delivered.verification.keyEncryptionAlg).to.equal('ECDH-ES+A256KW');
    expect(delivered.verification.signatureKid).to.match(/^cz-sig-/);
    expect(delivered.verification.jweSha256).to.match(/^[0-9a-f]{64}$/);

    for (const type of ['sent', 'delivered'] as const) {
      await czIpc.events.waitFor(
        (e) => e.type === type && e.messageId === messageId,
        10_000,
        `event ${type}`,
      );
    }

    const reply = example('reply', 'rt-reply-1');
    if (reply.kind !== 'reply') throw new Error('example is not a reply');
    reply.body.inReplyTo = messageId;
    const { messageId: replyId } = await kzMia.client.submit(reply);
    const back = await czIpc.inbox.waitFor((d) => d.envelope.id === replyId, 10_000, 'the reply at CZ');
    expect(back.envelope.kind).to.equal('reply');
    expect(back.envelope.body).to.have.property('inReplyTo', messageId);
    await kzMia.events.waitFor(
      (e) => e.type === 'delivered' && e.messageId === replyId,
      10_000,
      'reply delivered',
    );
  });

  it('carries each example message kind to the addressed authority', async () => {
    const senders = {
      'cz-pp-ipc': await pair.authority(pair.czConfig, 'cz-pp-ipc'),
      'kz-ncb': await pair.authority(pair.kzConfig, 'kz-ncb'),
    };
    const kzNcb = senders['kz-ncb'];
    const czIpc = senders['cz-pp-ipc'];
    const td = await czIpc.client.submit(example('travel-document', 'kinds-td'));
    const ps = await kzNcb.client.submit(example('person-search', 'kinds-ps'));
    const gotTd = await kzNcb.inbox.waitFor((d) => d.envelope.id === td.messageId, 10_000, 'travel-document');
    const gotPs = await czIpc.inbox.waitFor((d) => d.envelope.id === ps.messageId, 10_000, 'person-search');
    expect(gotTd.envelope.kind).to.equal('travel-document');
    expect(gotPs.envelope.kind).to.equal('person-search');
    expect(gotPs.envelope.priority).to.equal('urgent');
  });

  it('creates one message for one idempotency key, however often it is submitted', async () => {
    const czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
    const kzMia = await pair.authority(pair.kzConfig, 'kz-mia');
    const sub = example('request', 'idem-1');
    const first = await czIpc.client.submit(sub);
    await czIpc.events.waitFor((e) => e.type === 'sent' && e.messageId === first.messageId, 10_000, 'sent');
    const second = await czIpc.client.submit(sub);
    expect(second.messageId).to.equal(first.messageId);
    await czIpc.events.waitFor(
      (e) => e.type === 'duplicate' && e.messageId === first.messageId,
      10_000,
      'duplicate',
    );
    await czIpc.events.waitFor(
      (e) => e.type === 'delivered' && e.messageId === first.messageId,
      10_000,
      'delivered',
    );
    // A marker message sent after both: once it is in, the duplicate had every chance to arrive.
    const marker = await czIpc.client.submit(example('request', 'idem-marker'));
    await kzMia.inbox.waitFor((d) => d.envelope.id === marker.messageId, 10_000, 'marker');
    expect(kzMia.inbox.items.filter((d) => d.envelope.id === first.messageId)).to.have.length(1);
    expect(
      czIpc.events.items.filter((e) => e.type === 'sent' && e.messageId === first.messageId),
    ).to.have.length(1);
  });

  it('logs ids and codes but no personal data', async () => {
    const czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
    const kzNcb = await pair.authority(pair.kzConfig, 'kz-ncb');
    const { messageId } = await kzNcb.client.submit(example('person-search', 'logscan'));
    await czIpc.inbox.waitFor((d) => d.envelope.id === messageId, 10_000, 'person-search');
    await kzNcb.events.waitFor(
      (e) => e.type === 'delivered' && e.messageId === messageId,
      10_000,
      'delivered',
    );
    const log = pair.lines.join('');
    expect(log).to.include(messageId);
    for (const personal of ['Aigerim', 'Example', '2009-04-17', 'Almaty'])
      expect(log).not.to.include(personal);
    // Nothing was parked along the way.
    expect(await drainQueue(names(pair.czConfig.namespace).dlq)).to.have.length(0);
    expect(await drainQueue(names(pair.kzConfig.namespace).dlq)).to.have.length(0);
  });

  it('tells `accepted` once when a submission cannot be sent now, then `sent` when it is; at once, `sent` alone', async () => {
    const czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
    const kzMia = await pair.authority(pair.kzConfig, 'kz-mia');
    const kz = names(pair.kzConfig.namespace);
    // KZ's broker routes nothing to its ingress for a while: every publish of CZ's comes back unroutable.
    const conn = await amqp.connect(process.env.ACCORD_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672');
    try {
      const ch = await conn.createChannel();
      for (const key of [kz.ingress, kz.transferRoute])
        await ch.unbindQueue(kz.ingress, kz.peerExchange, key);
      const { messageId } = await czIpc.client.submit(example('request', 'rt-wait'));
      await czIpc.events.waitFor(
        (e) => e.type === 'accepted' && e.messageId === messageId,
        10_000,
        'accepted',
      );
      // Several retries later, still one `accepted`, and nothing sent.
      await new Promise((r) => setTimeout(r, 2500));
      const told = () => czIpc.events.items.filter((e) => e.messageId === messageId).map((e) => e.type);
      expect(told()).to.deep.equal(['accepted']);
      for (const key of [kz.ingress, kz.transferRoute]) await ch.bindQueue(kz.ingress, kz.peerExchange, key);
      await kzMia.inbox.waitFor((d) => d.envelope.id === messageId, 15_000, 'the request at KZ');
      await czIpc.events.waitFor(
        (e) => e.type === 'delivered' && e.messageId === messageId,
        15_000,
        'delivered',
      );
      expect(told()).to.deep.equal(['accepted', 'sent', 'delivered']);
      // With the route back, the next one is sent at once: its answer is `sent`, no `accepted` before it.
      const next = await czIpc.client.submit(example('request', 'rt-at-once'));
      await czIpc.events.waitFor(
        (e) => e.type === 'delivered' && e.messageId === next.messageId,
        15_000,
        'delivered',
      );
      expect(
        czIpc.events.items.filter((e) => e.messageId === next.messageId).map((e) => e.type),
      ).to.deep.equal(['sent', 'delivered']);
    } finally {
      await conn.close();
    }
  });
});
