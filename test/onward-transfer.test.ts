import { ExportRecordSchema } from '../src/domain/delivery.js';
import { expect } from 'chai';
import type { SubmissionInput } from '../src/client/index.js';
import { names } from '../src/config.js';
import { drainQueue, startPair, type Pair, type TestAuthority, example } from './helpers/harness.js';

// Art. 11(2): "Information and documents provided … may be provided to third states and international
// organizations only with a written consent of the providing Contracting Party."
describe('policy/onward-transfer (Art. 11(2)): the export gate', () => {
  let pair: Pair;
  let czIpc: TestAuthority;
  let kzNcb: TestAuthority;
  let received: string;
  const exportQueue = (d: string) => names(pair.czConfig.namespace).exportQueue(d);

  /** Export from CZ and wait for the verdict event. */
  async function exportFromCz(key: string, body: Record<string, unknown>) {
    await czIpc.client.exportTo({
      idempotencyKey: key,
      from: 'cz-pp-ipc',
      kind: 'export',
      body: body as never,
    });
    return czIpc.events.waitFor(
      (e) => e.idempotencyKey === key && (e.type === 'sent' || e.type === 'rejected'),
      10_000,
      key,
    );
  }

  before(async () => {
    pair = await startPair();
    czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
    kzNcb = await pair.authority(pair.kzConfig, 'kz-ncb');
    // KZ provides Art. 6 information to CZ.
    const td = example('travel-document', 'provided-1');
    td.from = 'kz-ncb';
    td.to = { party: 'CZ', authority: 'cz-pp-ipc' };
    td.body.documents = [{ number: 'KZ7700123', type: 'passport', status: 'stolen', issuingState: 'KZ' }];
    received = (await kzNcb.client.submit(td as SubmissionInput)).messageId;
    await czIpc.inbox.waitFor((d) => d.envelope.id === received, 10_000, 'the provided information at CZ');
  });
  after(async () => {
    await pair.close();
  });

  it('blocks an export naming information received from the peer without consent', async () => {
    const ev = await exportFromCz('exp-1', {
      destination: 'interpol',
      references: [received],
      summary: 'stolen KZ passport',
    });
    expect(ev).to.include({
      type: 'rejected',
      code: 'policy.onward_transfer_blocked',
      path: 'body.references.0',
    });
    expect(await drainQueue(exportQueue('interpol'))).to.have.length(0);
  });

  it('blocks an export that carries a received identifier without declaring where it came from', async () => {
    const ev = await exportFromCz('exp-2', {
      destination: 'interpol',
      summary: 'a passport seen at the border',
      travelDocuments: [{ number: 'KZ7700123', type: 'passport', status: 'stolen' }],
    });
    expect(ev).to.include({
      type: 'rejected',
      code: 'policy.onward_transfer_blocked',
      path: 'body.travelDocuments.0.number',
    });
  });

  it('blocks an export to a destination the config does not list', async () => {
    const ev = await exportFromCz('exp-3', { destination: 'nowhere', summary: 'x' });
    expect(ev).to.include({ type: 'rejected', code: 'policy.unknown_destination', path: 'body.destination' });
  });

  it('lets information of CZ’s own through the gate without consent', async () => {
    const ev = await exportFromCz('exp-4', {
      destination: 'interpol',
      summary: 'a Czech passport reported lost',
      travelDocuments: [{ number: 'CZ40123456', type: 'passport', status: 'lost' }],
    });
    expect(ev.type).to.equal('sent');
    const out = (await drainQueue(exportQueue('interpol'))).map(
      (b) => JSON.parse(b.toString()) as Record<string, any>,
    );
    expect(out).to.have.length(1);
    expect(out[0]!.content.travelDocuments[0].number).to.equal('CZ40123456');
    // As documented in docs/asyncapi.yaml.
    expect(ExportRecordSchema.safeParse(out[0]).error).to.equal(undefined);
  });

  it('passes once the provider consents in writing, for that destination only and until the consent expires', async () => {
    // CZ asks; KZ answers with a signed consent for Interpol.
    const ask = {
      idempotencyKey: 'consent-ask-1',
      kind: 'consent-request',
      from: 'cz-pp-ipc',
      to: { party: 'KZ', authority: 'kz-ncb' },
      body: { references: [received], destinations: ['interpol'], purpose: 'Interpol SLTD notice' },
    };
    const { messageId: askId } = await czIpc.client.submit(ask as SubmissionInput);
    await kzNcb.inbox.waitFor((d) => d.envelope.id === askId, 10_000, 'the consent request at KZ');
    const validUntil = new Date(Date.now() + 3600_000).toISOString();
    const consent = {
      idempotencyKey: 'consent-1',
      kind: 'consent',
      from: 'kz-ncb',
      to: { party: 'CZ', authority: 'cz-pp-ipc' },
      body: {
        inReplyTo: askId,
        references: [received],
        destinations: ['interpol'],
        granted: true,
        validUntil,
        conditions: [],
      },
    };
    const { messageId: consentId } = await kzNcb.client.submit(consent as SubmissionInput);
    await czIpc.inbox.waitFor((d) => d.envelope.id === consentId, 10_000, 'the consent at CZ');

    const ok = await exportFromCz('exp-5', {
      destination: 'interpol',
      references: [received],
      summary: 'stolen KZ passport',
      travelDocuments: [{ number: 'KZ7700123', type: 'passport', status: 'stolen' }],
    });
    expect(ok.type).to.equal('sent');
    const out = (await drainQueue(exportQueue('interpol'))).map(
      (b) => JSON.parse(b.toString()) as Record<string, any>,
    );
    // The record names the consent relied on: the provider's consent message.
    expect(out.map((o) => o.consents as string[])).to.deep.equal([[consentId]]);

    const elsewhere = await exportFromCz('exp-6', {
      destination: 'europol',
      references: [received],
      summary: 'x',
    });
    expect(elsewhere).to.include({ type: 'rejected', code: 'policy.onward_transfer_blocked' });

    // A consent that has already run out covers nothing: the provider's gateway refuses to send it.
    const expired = {
      ...consent,
      idempotencyKey: 'consent-expired',
      body: {
        ...consent.body,
        destinations: ['europol'],
        validUntil: new Date(Date.now() - 1000).toISOString(),
      },
    };
    await kzNcb.client.submit(expired as SubmissionInput);
    const refused = await kzNcb.events.waitFor(
      (e) => e.idempotencyKey === 'consent-expired',
      10_000,
      'the answer to the expired consent',
    );
    expect(refused).to.include({ type: 'rejected', code: 'policy.consent_expired' });
    const late = await exportFromCz('exp-7', {
      destination: 'europol',
      references: [received],
      summary: 'x',
    });
    expect(late).to.include({ type: 'rejected', code: 'policy.onward_transfer_blocked' });
  });

  it('keeps only keyed hashes of received identifiers in Redis, never the identifiers', async () => {
    const { Redis } = await import('ioredis');
    const redis = new Redis(process.env.ACCORD_REDIS_URL ?? 'redis://127.0.0.1:6379');
    try {
      const keys = await redis.keys(`${names(pair.czConfig.namespace).redisPrefix}idh:*`);
      expect(keys.length).to.be.greaterThan(0);
      expect(keys.join(' ')).not.to.include('KZ7700123');
      // They name the messages they came in, and expire (with the message's record, not never).
      const origins = (await Promise.all(keys.map((k) => redis.smembers(k)))).flat();
      expect(origins).to.include(received);
      for (const key of keys) expect(await redis.ttl(key), key).to.be.greaterThan(0);
    } finally {
      redis.disconnect();
    }
  });
});
