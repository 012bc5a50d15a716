/**
 * Art. 11(2), 10(6) against two real gateways: the export gate stops every spelling of an identifier
 * the peer provided (normal forms at both ends); a blocked export leaves an Art. 10(6) record; a passed
 * one names the consents it relied on and is told like any other submission (`accepted`, then `sent`);
 * a consent whose validity has already run out is refused when it is given.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import type { StatusEvent, SubmissionInput } from '../src/client/index.js';
import { names } from '../src/config.js';
import { drainQueue, example, startPair, type Pair, type TestAuthority } from './helpers/harness.js';

const DOCUMENT = 'KZA9BC4B5';
const FAMILY = 'Nováková';
const BORN = '1986-09-14';

describe('the export gate against two gateways (Art. 11(2), 10(6))', function () {
  this.timeout(60_000);
  let pair: Pair;
  let czIpc: TestAuthority;
  let kzNcb: TestAuthority;
  let documentMessage: string;
  let personMessage: string;
  const exportQueue = (d: string) => names(pair.czConfig.namespace).exportQueue(d);

  /** Export from CZ's cz-pp-ipc and wait for the verdict: `sent` or `rejected`. */
  async function exportFromCz(key: string, body: Record<string, unknown>): Promise<StatusEvent> {
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

  /** CZ's Art. 10(6) records. */
  const czRecords = () =>
    readFileSync(pair.czConfig.records.auditFile!, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  before(async () => {
    pair = await startPair();
    czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
    kzNcb = await pair.authority(pair.kzConfig, 'kz-ncb');
    // KZ provides a travel document (Art. 6) and a searched person with a date of birth (Art. 7) to CZ.
    const td = example('travel-document', 'gate-td');
    td.from = 'kz-ncb';
    td.to = { party: 'CZ', authority: 'cz-pp-ipc' };
    td.body.documents = [{ number: DOCUMENT, type: 'passport', status: 'stolen', issuingState: 'KZ' }];
    documentMessage = (await kzNcb.client.submit(td as SubmissionInput)).messageId;
    const ps = example('person-search', 'gate-ps');
    ps.body.person = { familyName: FAMILY, givenNames: 'Aigerim', dateOfBirth: BORN };
    personMessage = (await kzNcb.client.submit(ps as SubmissionInput)).messageId;
    for (const id of [documentMessage, personMessage]) {
      await czIpc.inbox.waitFor((d) => d.envelope.id === id, 10_000, 'the provided information at CZ');
    }
  });
  after(async () => {
    await pair.close();
  });

  const documentVariants = ['KZ-A9BC4B5', 'KZA9BC4B5<', 'KZ-A9BC-4B5<<'];
  for (const [i, number] of documentVariants.entries()) {
    it(`blocks the provided travel document written ${number}`, async () => {
      const ev = await exportFromCz(`gate-doc-${i}`, {
        destination: 'interpol',
        summary: 'a passport seen at the border',
        travelDocuments: [{ number, type: 'passport', status: 'stolen' }],
      });
      expect(ev).to.include({
        type: 'rejected',
        code: 'policy.onward_transfer_blocked',
        path: 'body.travelDocuments.0.number',
      });
      expect(await drainQueue(exportQueue('interpol'))).to.have.length(0);
    });
  }

  const nameVariants = ['NOVAKOVA', 'Novakova', 'novákova', 'Nová-ková'];
  for (const [i, familyName] of nameVariants.entries()) {
    it(`blocks the provided person written ${familyName}, with the same date of birth`, async () => {
      const ev = await exportFromCz(`gate-name-${i}`, {
        destination: 'interpol',
        summary: 'a person of interest',
        persons: [{ familyName, dateOfBirth: BORN }],
      });
      expect(ev).to.include({
        type: 'rejected',
        code: 'policy.onward_transfer_blocked',
        path: 'body.persons.0',
      });
      expect(await drainQueue(exportQueue('interpol'))).to.have.length(0);
    });
  }

  it('records each blocked onward transfer (Art. 10(6)): metadata only', async () => {
    const ev = await exportFromCz('gate-rec-1', {
      destination: 'europol',
      references: [documentMessage],
      summary: 'stolen KZ passport',
      travelDocuments: [{ number: DOCUMENT, type: 'passport', status: 'stolen' }],
    });
    expect(ev).to.include({
      type: 'rejected',
      code: 'policy.onward_transfer_blocked',
      path: 'body.references.0',
    });
    const unlisted = await exportFromCz('gate-rec-2', { destination: 'nowhere', summary: 'x' });
    expect(unlisted).to.include({ type: 'rejected', code: 'policy.unknown_destination' });

    const records = czRecords().filter((r) => r.type === 'export-decision');
    const blocked = records.find((r) => r.messageId === ev.messageId);
    expect(blocked, JSON.stringify(records)).to.deep.include({
      kind: 'export',
      fromAuthority: 'CZ/cz-pp-ipc',
      toAuthority: 'export/europol',
      refersTo: documentMessage,
      subjectCount: 0,
      categories: ['travel-documents:1'],
    });
    expect(blocked!.reason).to.match(/blocked: policy\.onward_transfer_blocked at body\.references\.0/);
    expect(records.find((r) => r.messageId === unlisted.messageId)?.reason).to.match(
      /blocked: policy\.unknown_destination at body\.destination/,
    );
    // Each blocked variant above is recorded too, and no record holds an identifier.
    for (const key of ['gate-doc-0', 'gate-name-0']) {
      const id = czIpc.events.items.find((e) => e.idempotencyKey === key)?.messageId;
      expect(
        records.some((r) => r.messageId === id && String(r.reason).includes('blocked')),
        key,
      ).to.equal(true);
    }
    const text = JSON.stringify(records);
    for (const secret of ['A9BC4B5', 'ovákov', 'ovakov', 'NOVAK', BORN]) expect(text).not.to.include(secret);
  });

  it('passes with the provider’s consent, naming the consent relied on, told accepted then sent', async () => {
    const ask = {
      idempotencyKey: 'gate-ask',
      kind: 'consent-request',
      from: 'cz-pp-ipc',
      to: { party: 'KZ', authority: 'kz-ncb' },
      body: { references: [documentMessage], destinations: ['interpol'], purpose: 'Interpol SLTD notice' },
    };
    const { messageId: askId } = await czIpc.client.submit(ask as SubmissionInput);
    await kzNcb.inbox.waitFor((d) => d.envelope.id === askId, 10_000, 'the consent request at KZ');
    const consent = {
      idempotencyKey: 'gate-consent',
      kind: 'consent',
      from: 'kz-ncb',
      to: { party: 'CZ', authority: 'cz-pp-ipc' },
      body: {
        inReplyTo: askId,
        references: [documentMessage],
        destinations: ['interpol'],
        granted: true,
        validUntil: new Date(Date.now() + 3600_000).toISOString(),
        conditions: [],
      },
    };
    const { messageId: consentId } = await kzNcb.client.submit(consent as SubmissionInput);
    await czIpc.inbox.waitFor((d) => d.envelope.id === consentId, 10_000, 'the consent at CZ');

    const ok = await exportFromCz('gate-pass', {
      destination: 'interpol',
      references: [documentMessage],
      summary: 'stolen KZ passport',
      travelDocuments: [{ number: 'KZ-A9BC4B5', type: 'passport', status: 'stolen' }],
    });
    expect(ok.type).to.equal('sent');
    const out = (await drainQueue(exportQueue('interpol'))).map(
      (b) => JSON.parse(b.toString()) as { exportId: string; consents: string[] },
    );
    expect(out.map((o) => o.consents)).to.deep.equal([[consentId]]);
    // Carried out by the gateway itself: accepted, then sent (to the export queue).
    const told = czIpc.events.items.filter((e) => e.idempotencyKey === 'gate-pass').map((e) => e.type);
    expect(told).to.deep.equal(['accepted', 'sent']);
    const passed = czRecords().find((r) => r.type === 'export-decision' && r.messageId === ok.messageId);
    expect(passed?.reason).to.match(/exported; consents: 1/);
  });

  it('refuses a consent whose validUntil has already passed when it is given, and sends nothing', async () => {
    const key = 'gate-consent-expired';
    const expired = {
      idempotencyKey: key,
      kind: 'consent',
      from: 'kz-ncb',
      to: { party: 'CZ', authority: 'cz-pp-ipc' },
      body: {
        references: [personMessage],
        destinations: ['europol'],
        granted: true,
        validUntil: new Date(Date.now() - 1000).toISOString(),
        conditions: [],
      },
    };
    const { messageId: expiredId } = await kzNcb.client.submit(expired as SubmissionInput);
    const ev = await kzNcb.events.waitFor(
      (e) => e.idempotencyKey === key,
      10_000,
      'the answer to the consent',
    );
    expect(ev).to.include({ type: 'rejected', code: 'policy.consent_expired', path: 'body.validUntil' });
    // A refusal (granted: false) names no validity that matters; it still goes.
    const refusal = {
      ...expired,
      idempotencyKey: 'gate-consent-refused',
      body: { ...expired.body, granted: false },
    };
    const { messageId: refusalId } = await kzNcb.client.submit(refusal as SubmissionInput);
    await czIpc.inbox.waitFor((d) => d.envelope.id === refusalId, 10_000, 'the refusal at CZ');
    expect(czIpc.inbox.items.map((d) => d.envelope.id)).not.to.include(expiredId);
    const late = await exportFromCz('gate-late', {
      destination: 'europol',
      references: [personMessage],
      summary: 'x',
    });
    expect(late).to.include({ type: 'rejected', code: 'policy.onward_transfer_blocked' });
  });
});
