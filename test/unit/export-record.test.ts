/**
 * Art. 11(2), 10(6): what the export gate's decisions record and tell — a blocked export is recorded
 * (metadata only) before its rejection; a passed one names the consents it relied on by their ids and
 * is told `accepted` then `sent`; a granted consent already expired is refused before it is sealed.
 * Pure; no broker, no Redis.
 */
import { expect } from 'chai';
import { kindSpec, localSpecOf } from '../../src/kinds/index.js';
import type { Effect, Facts, LocalDecision } from '../../src/kinds/spec.js';
import { decideLocal } from '../../src/pipeline/decide-outbound.js';
import { T0 } from '../helpers/envelopes.js';
import { expectCode, expectRejection } from '../helpers/expect-code.js';
import { configOf, factsOf } from '../helpers/facts.js';

const REF = '5b0e7c3e-2f4a-4c55-9a51-0d5f3c2b9a10';
const CONSENT = '3c1d2e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f';
const ID = '9d0e7c3e-2f4a-8c55-9a51-0d5f3c2b9a10';
const DAY = 86_400_000;
const at = (ms: number) => new Date(T0.getTime() + ms).toISOString();
const cz = configOf('cz');

const receivedFromPeer: Partial<Facts> = {
  seen: new Map([
    [
      REF,
      {
        state: 'delivered' as const,
        copy: 'c',
        jweSha256: 'x',
        receiptJwe: 'r',
        kind: 'travel-document',
        fromAuthority: 'kz-ncb',
        toAuthority: 'cz-pp-ipc',
      },
    ],
  ]),
};

function decideExport(body: Record<string, unknown>, over: Partial<Facts> = {}): LocalDecision {
  const spec = localSpecOf('export')!;
  const exp = spec.schema.parse({
    idempotencyKey: 'e-1',
    from: 'cz-pp-ipc',
    kind: 'export',
    body: { destination: 'interpol', references: [REF], summary: 'S', ...body },
  });
  return decideLocal(spec, exp, ID, factsOf(cz, over), false);
}

const audits = (effects: readonly Effect[] | undefined) =>
  (effects ?? []).flatMap((e) => (e.type === 'audit' ? [e.record] : []));

describe('kinds/onward-transfer: the records and events of the export gate (Art. 11(2), 10(6))', () => {
  it('records a blocked export before its rejection: who, where, how many, the code and field', async () => {
    const d = decideExport(
      {
        persons: [{ familyName: 'Novák', dateOfBirth: '1980-02-03' }],
        travelDocuments: [{ number: 'KZA9BC4B5', type: 'passport', status: 'stolen' }],
      },
      receivedFromPeer,
    );
    await expectRejection(d, 'policy.onward_transfer_blocked', 'body.references.0');
    const records = audits((d as Extract<LocalDecision, { action: 'reject' }>).effects);
    expect(records).to.deep.equal([
      {
        type: 'export-decision',
        messageId: ID,
        kind: 'export',
        subjectCount: 1,
        categories: ['travel-documents:1'],
        fromAuthority: 'CZ/cz-pp-ipc',
        toAuthority: 'export/interpol',
        reason: 'Art. 11(2) blocked: policy.onward_transfer_blocked at body.references.0; references: 1',
        refersTo: REF,
      },
    ]);
    const text = JSON.stringify(records);
    for (const identifier of ['Novák', '1980-02-03', 'KZA9BC4B5']) expect(text).not.to.include(identifier);
  });

  it('records an export to a destination the config does not list', async () => {
    const d = decideExport({ destination: 'nowhere', references: [] });
    await expectRejection(d, 'policy.unknown_destination', 'body.destination');
    expect(audits((d as Extract<LocalDecision, { action: 'reject' }>).effects)[0]).to.deep.include({
      toAuthority: 'export/nowhere',
      reason: 'Art. 11(2) blocked: policy.unknown_destination at body.destination; references: 0',
    });
  });

  it('names the consent relied on by its id, and tells accepted then sent', () => {
    const d = decideExport(
      {},
      {
        ...receivedFromPeer,
        gate: {
          consents: new Map([[REF, { validUntil: at(DAY), consentId: CONSENT }]]),
          origins: new Map(),
        },
      },
    );
    expect(d.action).to.equal('carry-out');
    const done = d as Extract<LocalDecision, { action: 'carry-out' }>;
    expect(done.deliveries[0]).to.deep.nested.include({ 'record.consents': [CONSENT] });
    expect(done.events.map((e) => [e.authority, e.event.type, e.event.messageId])).to.deep.equal([
      ['cz-pp-ipc', 'accepted', ID],
      ['cz-pp-ipc', 'sent', ID],
    ]);
  });

  it('names the covered message for a consent recorded before consent ids were kept', () => {
    const d = decideExport(
      {},
      {
        ...receivedFromPeer,
        gate: { consents: new Map([[REF, { validUntil: at(DAY) }]]), origins: new Map() },
      },
    );
    expect((d as Extract<LocalDecision, { action: 'carry-out' }>).deliveries[0]).to.deep.nested.include({
      'record.consents': [REF],
    });
  });
});

describe('kinds/onward-transfer: a consent is valid when it is given (Art. 10(1), 11(2))', () => {
  /** The consent's check before it is sealed (none before: every consent was sent). */
  const check = (sub: never, facts: Facts) => kindSpec('consent').send?.check?.(sub, facts);
  const consent = (validUntil: string, granted = true) =>
    ({
      idempotencyKey: 'c-1',
      kind: 'consent',
      from: 'kz-ncb',
      to: { party: 'CZ', authority: 'cz-pp-ipc' },
      priority: 'normal',
      language: 'en',
      body: { references: [REF], destinations: ['interpol'], granted, validUntil, conditions: [] },
    }) as never;
  const kz = factsOf(configOf('kz'));

  it('refuses a granted consent whose validUntil has passed, or is now', async () => {
    for (const until of [at(-1000), at(0)]) {
      await expectCode(() => check(consent(until), kz), 'policy.consent_expired', 'body.validUntil');
    }
  });

  it('sends one valid in the future, and a refusal whatever its validUntil', () => {
    expect(() => check(consent(at(1000)), kz)).not.to.throw();
    expect(() => check(consent(at(-DAY), false), kz)).not.to.throw();
  });
});
