/**
 * The inbound decisions, as tables: what a message from the peer is checked against, where it goes,
 * and what its intake starts — per article, per kind; and what the receipt of one we sent reports and
 * sets off. Pure functions; no broker, no Redis, no keys.
 */
import { expect } from 'chai';
import type { Envelope } from '../../src/domain/envelope.js';
import type { Effect, Facts } from '../../src/kinds/spec.js';
import {
  checkEnvelope,
  decideInbound,
  decideReceipt,
  type IntakeInput,
  type IntakePlan,
} from '../../src/pipeline/decide-inbound.js';
import { noticeIdFor } from '../../src/pipeline/dispatch.js';
import type { ReceivedRecord, SentRecord } from '../../src/pipeline/ports.js';
import type { Screening } from '../../src/policy/screening.js';
import { T0, envelopeOf, requestEnvelope } from '../helpers/envelopes.js';
import { expectCode, expectRejection } from '../helpers/expect-code.js';
import { configOf, factsOf } from '../helpers/facts.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const at = (ms: number) => new Date(T0.getTime() + ms).toISOString();
const ORIGINAL = '5b0e7c3e-2f4a-4c55-9a51-0d5f3c2b9a10';
const kz = configOf('kz');
const verification = {
  jweSha256: 'a'.repeat(64),
  encryptionKid: 'e',
  signatureKid: 's',
  signatureAlg: 'ES256',
  keyEncryptionAlg: 'ECDH-ES+A256KW',
  contentEncryptionAlg: 'A256GCM',
};

function input(over: Partial<IntakeInput> = {}): IntakeInput {
  return {
    jwe: () => 'the.jwe.as.received',
    verification,
    receivedAt: T0,
    heldSince: undefined,
    keyChange: undefined,
    screening: { outcome: 'accept' },
    ...over,
  };
}

/** The plan of a message taken in (fails the test for any other decision). */
function planOf(env: Envelope, over: Partial<IntakeInput> = {}, facts: Facts = factsOf(kz)): IntakePlan {
  const d = decideInbound(env, input(over), facts);
  expect(d.action, JSON.stringify(d).slice(0, 300)).to.equal('take-in');
  return (d as { plan: IntakePlan }).plan;
}

const ofType = <T extends Effect['type']>(effects: Effect[], type: T) =>
  effects.filter((e): e is Extract<Effect, { type: T }> => e.type === type);

const personal = { handling: { purposes: [], conditions: [], sensitive: [], destroyBy: at(30 * DAY) } };

describe('pipeline/decide-inbound: the checks on an opened envelope', () => {
  const facts = factsOf(kz);
  const rows: [string, Record<string, unknown>, string, string][] = [
    [
      'addressed to another party (surreptitious forwarding)',
      { to: { party: 'CZ', authority: 'cz-ndh' } },
      'envelope.wrong_recipient',
      'to.party',
    ],
    [
      'from another party than the pinned peer',
      { from: { party: 'KZ', authority: 'kz-ncb' } },
      'envelope.wrong_sender',
      'from.party',
    ],
    [
      'to an authority not listed here (Art. 13)',
      { to: { party: 'KZ', authority: 'kz-x' } },
      'auth.unknown_recipient',
      'to.authority',
    ],
    [
      'from an authority not in the peer’s directory (Art. 13)',
      { from: { party: 'CZ', authority: 'cz-x' } },
      'auth.unknown_authority',
      'from.authority',
    ],
    ['expired', { expiresAt: at(-HOUR) }, 'envelope.expired', 'expiresAt'],
    ['created in the future', { createdAt: at(HOUR) }, 'envelope.not_yet_valid', 'createdAt'],
  ];
  for (const [what, over, code, path] of rows) {
    it(`parks a message ${what}: ${code}`, async () => {
      const env = envelopeOf(
        'spontaneous',
        { crimeCategories: ['forgery'], informationTypes: ['objects'], summary: 's' },
        over,
      );
      await expectCode(() => checkEnvelope(env, facts, T0), code as never, path);
    });
  }

  it('parks one whose Art. 10(2) flags do not match its data', async () => {
    const env = requestEnvelope({ persons: [{ familyName: 'Example', religion: 'x' }] }, personal);
    await expectCode(() => checkEnvelope(env, facts, T0), 'policy.sensitive_flags_mismatch');
  });

  it('parks one with personal data but no destruction deadline (Art. 10(5))', async () => {
    const env = requestEnvelope({ persons: [{ familyName: 'Example' }] });
    await expectCode(
      () => checkEnvelope(env, facts, T0),
      'policy.destruction_deadline_missing',
      'handling.destroyBy',
    );
  });

  it('accepts one within its validity, with its flags and deadline', () => {
    checkEnvelope(requestEnvelope({ persons: [{ familyName: 'Example' }] }, personal), facts, T0);
  });
});

describe('pipeline/decide-inbound: requests (Art. 9)', () => {
  it('delivers a request to the addressed authority, recorded and held (Art. 9(1), 10(5), 10(6))', () => {
    const env = requestEnvelope();
    const plan = planOf(env);
    expect(plan).to.deep.include({ target: 'kz-mia', status: 'delivered' });
    expect(plan.deliveries).to.have.length(1);
    expect(plan.deliveries[0]).to.deep.include({ to: 'inbox', authority: 'kz-mia' });
    expect(plan.effects.map((e) => e.type).slice(-2)).to.deep.equal(['held-by', 'audit']);
  });

  it('starts the reply deadline of a request with replyBy (Art. 9(2))', () => {
    const env = requestEnvelope({ replyBy: at(5 * DAY) });
    expect(ofType(planOf(env).effects, 'schedule')).to.deep.equal([
      {
        type: 'schedule',
        deadline: { kind: 'reply-due', id: env.id, authority: 'kz-mia', dueAt: at(5 * DAY) },
      },
    ]);
  });

  it('refers a request to the competent authority and tells the requester in a notice (Art. 9(2))', () => {
    const config = configOf('kz', (c) => {
      c.policy.competence = [
        { authority: 'kz-mia', crimeCategories: ['drug-trafficking'] },
        { authority: 'kz-ncb' },
      ];
    });
    const env = requestEnvelope();
    const plan = planOf(env, {}, factsOf(config));
    expect(plan.target).to.equal('kz-ncb');
    expect(plan.deliveries[0]).to.deep.nested.include({
      authority: 'kz-ncb',
      'delivery.referredFrom': 'kz-mia',
    });
    expect(ofType(plan.effects, 'notice')[0]).to.deep.include({
      what: 'referral',
      content: {
        kind: 'referral-notice',
        body: { inReplyTo: env.id, referredFrom: 'kz-mia', referredTo: 'kz-ncb' },
      },
    });
  });

  it('refuses a request the screening refused: a signed notice at once, nothing delivered (Art. 9(4), 9(5))', () => {
    const env = requestEnvelope({ replyBy: at(DAY) });
    const screening: Screening = {
      outcome: 'refuse',
      decidedBy: { kind: 'rule', ref: 'no-forgery' },
      grounds: ['national-legislation'],
      explanation: 'No.',
    };
    const plan = planOf(env, { screening });
    expect(plan.status).to.equal('refused');
    expect(plan.deliveries).to.deep.equal([]);
    expect(plan.effects.map((e) => e.type)).to.deep.equal(['notice', 'audit']);
    const noticeId = noticeIdFor('KZ', env, 'refusal-rule');
    expect(ofType(plan.effects, 'audit')[0]!.record.reason).to.include(noticeId);
    expect(ofType(plan.after, 'refused')[0]).to.deep.include({ grounds: ['national-legislation'] });
  });

  it('holds a request the screening sent to review, with its JWE, for a person (Art. 9(4))', () => {
    const env = requestEnvelope();
    const screening: Screening = { outcome: 'review', reasons: [{ by: 'hook h', why: 'Look.' }] };
    const plan = planOf(env, { screening });
    expect(plan.status).to.equal('in-review');
    expect(plan.deliveries[0]).to.deep.nested.include({
      to: 'review',
      'delivery.review.reasons': screening.reasons,
    });
    expect(ofType(plan.effects, 'review-hold')[0]!.record).to.deep.include({
      id: env.id,
      jwe: 'the.jwe.as.received',
    });
    // It reaches no authority yet: nothing enters the ledger until a decision delivers it.
    expect(ofType(plan.effects, 'held-by')).to.deep.equal([]);
  });

  for (const [kind, type, body] of [
    [
      'refusal-notice',
      'refused',
      { scope: 'full', grounds: ['security'], explanation: 'No.', decidedBy: { kind: 'rule', ref: 'r' } },
    ],
    ['referral-notice', 'referred', { referredFrom: 'cz-ndh', referredTo: 'cz-pp-ipc' }],
    [
      'acceptance-notice',
      'accepted-with-conditions',
      { conditions: ['Only for this case.'], decidedBy: { kind: 'person' } },
    ],
  ] as const) {
    it(`tells the requester of a ${kind} what became of its request: \`${type}\` (Art. 9(2), 9(4), 9(5))`, () => {
      const request = '2b1f7a3e-5c4d-8e6f-9a0b-1c2d3e4f5a6b';
      const env = envelopeOf(kind, { inReplyTo: request, ...body });
      const [event] = planOf(env).events;
      expect(event).to.deep.nested.include({
        authority: 'kz-mia',
        'event.type': type,
        'event.messageId': request,
        'event.kind': 'request',
      });
    });
  }
});

describe('pipeline/decide-inbound: data protection (Art. 10)', () => {
  const received = (over: Partial<ReceivedRecord> = {}): Map<string, ReceivedRecord> =>
    new Map([
      [
        ORIGINAL,
        {
          id: ORIGINAL,
          kind: 'person-search',
          fromAuthority: 'cz-pp-ipc',
          authority: 'kz-ncb',
          receivedAt: at(-DAY),
          personal: true,
          state: 'held',
          ...over,
        },
      ],
    ]);
  const correction = () => envelopeOf('correction', { refersTo: ORIGINAL, reason: 'Typo.' });

  it('holds a correction whose original has not arrived, the first time with a `held` receipt (Art. 10(4))', () => {
    expect(decideInbound(correction(), input(), factsOf(kz))).to.deep.equal({
      action: 'hold',
      refersTo: ORIGINAL,
      since: T0.toISOString(),
      first: true,
    });
    const again = decideInbound(correction(), input({ heldSince: at(-HOUR) }), factsOf(kz));
    expect(again).to.deep.include({ action: 'hold', since: at(-HOUR), first: false });
  });

  it('parks it once it waited longer than holdMaxHours: policy.original_missing (Art. 10(4))', async () => {
    const d = decideInbound(correction(), input({ heldSince: at(-73 * HOUR) }), factsOf(kz));
    await expectRejection(d, 'policy.original_missing', 'body.refersTo', 'park');
  });

  it('parks a correction from another authority than the original’s provider (Art. 10(4))', async () => {
    const d = decideInbound(
      correction(),
      input(),
      factsOf(kz, { received: received({ fromAuthority: 'cz-ndh' }) }),
    );
    await expectRejection(d, 'policy.not_from_provider', 'body.refersTo', 'park');
  });

  it('delivers a correction to whoever holds the original, with its confirmation deadline (Art. 10(4))', () => {
    const env = correction();
    const plan = planOf(env, {}, factsOf(kz, { received: received() }));
    expect(plan.target).to.equal('kz-ncb');
    expect(ofType(plan.effects, 'schedule')).to.deep.equal([
      {
        type: 'schedule',
        deadline: {
          kind: 'correction-confirmation-due',
          id: env.id,
          authority: 'kz-ncb',
          dueAt: at(72 * HOUR),
        },
      },
    ]);
  });

  it('notes an erasure on its original and expects the destruction confirmed in time (Art. 10(4))', () => {
    const env = envelopeOf('erasure', { refersTo: ORIGINAL, reason: 'Wrong person.', scope: 'all' });
    const plan = planOf(env, {}, factsOf(kz, { received: received() }));
    expect(plan.effects).to.deep.include({ type: 'erasure-noted', id: ORIGINAL, erasureId: env.id });
    expect(ofType(plan.effects, 'schedule')[0]!.deadline).to.deep.include({
      kind: 'erasure-confirmation-due',
      id: ORIGINAL,
    });
  });

  it('tracks a usage-report request until its answer date, or the configured days (Art. 10(3))', () => {
    const asked = envelopeOf('usage-report-request', {
      references: [ORIGINAL],
      question: 'How?',
      answerBy: at(9 * DAY),
    });
    expect(ofType(planOf(asked).effects, 'schedule')[0]!.deadline).to.deep.include({
      kind: 'usage-report-due',
      dueAt: at(9 * DAY),
    });
    const open = envelopeOf('usage-report-request', { references: [ORIGINAL], question: 'How?' });
    expect(ofType(planOf(open).effects, 'schedule')[0]!.deadline).to.deep.include({ dueAt: at(30 * DAY) });
  });

  it('gives a message with personal data to its authority with the provider’s destruction deadline (Art. 10(5))', () => {
    const env = requestEnvelope({ persons: [{ familyName: 'Example' }] }, personal);
    expect(ofType(planOf(env).effects, 'held-by')[0]).to.deep.include({ authority: 'kz-mia', envelope: env });
  });

  it('keeps the keyed hashes of received identifiers for the export gate (Art. 11(2))', () => {
    const env = requestEnvelope(
      { persons: [{ familyName: 'Example', dateOfBirth: '1980-01-01' }] },
      personal,
    );
    const [ids] = ofType(planOf(env).effects, 'identifiers');
    expect(ids!.hashes).to.have.length(1);
    expect(JSON.stringify(ids)).not.to.include('Example');
  });

  it('records a granted consent per message and destination, and closes its request (Art. 10(1), 11(2))', () => {
    const request = '7e2b1f3a-4c5d-8e6f-9a0b-1c2d3e4f5a6b';
    const env = envelopeOf('consent', {
      inReplyTo: request,
      references: [ORIGINAL],
      destinations: ['interpol', 'europol'],
      granted: true,
      validUntil: at(90 * DAY),
    });
    const plan = planOf(env);
    expect(ofType(plan.effects, 'consent').map((c) => c.destination)).to.deep.equal(['interpol', 'europol']);
    expect(plan.effects).to.deep.include({ type: 'consent-answered', requestId: request });
    const refused = envelopeOf('consent', {
      references: [ORIGINAL],
      destinations: ['interpol'],
      granted: false,
      validUntil: at(DAY),
    });
    expect(ofType(planOf(refused).effects, 'consent')).to.deep.equal([]);
  });

  it('tells the provider of a confirmation notice, with the kind of its message (Art. 10(4), 10(5))', () => {
    const env = envelopeOf('confirmation-notice', {
      refersTo: ORIGINAL,
      action: 'destroyed',
      reason: 'erasure',
      at: at(0),
    });
    const provided = new Map([
      [
        ORIGINAL,
        { id: ORIGINAL, kind: 'person-search', from: 'kz-mia', toAuthority: 'cz-pp-ipc', sentAt: 'x' },
      ],
    ]);
    const [told] = planOf(env, {}, factsOf(kz, { provided })).events;
    expect(told!.event).to.deep.include({ type: 'confirmed', messageId: ORIGINAL, kind: 'person-search' });
  });
});

describe('pipeline/decide-inbound: notices about the agreement (Art. 13, 17, 18) and keys', () => {
  it('keeps an in-band directory update pending until an operator approves it (Art. 13)', () => {
    const env = envelopeOf('directory-update', {
      authorities: [{ id: 'cz-pp-ipc', name: 'IPC' }],
      reason: 'New.',
    });
    expect(ofType(planOf(env).effects, 'directory-pending')[0]!.update).to.deep.include({
      id: env.id,
      party: 'CZ',
    });
  });

  it('makes a suspension effective fifteen days after this intake (Art. 17)', () => {
    const env = envelopeOf('suspension-notice', {
      action: 'suspend',
      scope: 'all',
      grounds: ['security'],
      reason: 'r',
    });
    expect(ofType(planOf(env).effects, 'suspension')[0]!.entry).to.deep.include({
      party: 'CZ',
      effectiveAt: at(15 * DAY),
    });
  });

  it('ends the agreement six months after the peer’s termination notice arrived (Art. 18)', () => {
    const env = envelopeOf('termination-notice', { diplomaticNote: 'Note 1' });
    expect(ofType(planOf(env).effects, 'terminate')[0]).to.deep.include({
      authority: 'kz-mia',
      termination: {
        noticeId: env.id,
        party: 'CZ',
        diplomaticNote: 'Note 1',
        receivedAt: at(0),
        effectiveAt: '2027-05-20T10:00:00.000Z',
      },
    });
  });

  it('records a key change applied from the peer and delivers nothing', () => {
    const env = envelopeOf('key-revocation', { kid: 'k1', use: 'sig', reason: 'lost', revokedAt: at(0) });
    const plan = planOf(env, { keyChange: 'peer revoked sig:k1' });
    expect(plan.deliveries).to.deep.equal([]);
    expect(ofType(plan.effects, 'audit')[0]!.record).to.deep.include({ reason: 'peer revoked sig:k1' });
  });
});

describe('pipeline/decide-inbound: the receipt of a message this gateway sent', () => {
  const ID = '9c0e7c3e-2f4a-4c55-9a51-0d5f3c2b9a10';
  const cz = configOf('cz');
  const sent = (over: Partial<SentRecord> = {}): SentRecord => ({
    jwe: 'j',
    jweSha256: 'b'.repeat(64),
    from: 'cz-pp-ipc',
    idempotencyKey: 'k',
    kind: 'request',
    toParty: 'KZ',
    toAuthority: 'kz-mia',
    sealedAt: at(-HOUR),
    sentAt: at(-HOUR),
    ...over,
  });
  const receipt = (status: string, over: Record<string, unknown> = {}) =>
    envelopeOf(
      'receipt',
      { forMessageId: ID, jweSha256: 'b'.repeat(64), receivedAt: at(-1000), status, ...over },
      { from: { party: 'KZ', authority: 'kz-mia' }, to: { party: 'CZ', authority: 'cz-pp-ipc' } },
    );

  it('parks a receipt for a message never sent to that authority', async () => {
    await expectRejection(
      decideReceipt(receipt('delivered'), null, factsOf(cz)),
      'receipt.unknown_message',
      undefined,
      'park',
    );
    await expectRejection(
      decideReceipt(receipt('delivered'), sent({ toAuthority: 'kz-ncb' }), factsOf(cz)),
      'receipt.unknown_message',
      undefined,
      'park',
    );
  });

  it('parks a receipt for another JWE than the one sent', async () => {
    await expectRejection(
      decideReceipt(receipt('delivered'), sent({ jweSha256: 'c'.repeat(64) }), factsOf(cz)),
      'receipt.digest_mismatch',
      undefined,
      'park',
    );
  });

  it('reports a message once: a receipt after the first changes nothing', () => {
    expect(decideReceipt(receipt('delivered'), sent({ deliveredAt: at(0) }), factsOf(cz))).to.deep.equal({
      action: 'settled',
    });
  });

  for (const [status, type] of [
    ['delivered', 'delivered'],
    ['duplicate', 'delivered'],
    ['in-review', 'in-review'],
    ['held', 'held'],
    ['refused', undefined],
  ] as const) {
    it(`tells the sending authority of status ${status}: ${type ?? 'nothing (the notice tells it)'}`, () => {
      const d = decideReceipt(receipt(status), sent(), factsOf(cz));
      expect(d.action).to.equal('report');
      const events = (d as { events: { event: { type: string } }[] }).events;
      expect(events.map((e) => e.event.type)).to.deep.equal(type === undefined ? [] : [type]);
    });
  }

  it('makes our suspension effective fifteen days after the peer received it (Art. 17)', () => {
    const suspension = { id: ID, party: 'CZ', action: 'suspend' as const, scope: 'all' as const };
    const d = decideReceipt(
      receipt('delivered'),
      sent({ kind: 'suspension-notice' }),
      factsOf(cz, { suspension }),
    );
    expect(d).to.deep.nested.include({
      'effects[0].entry.effectiveAt': new Date(T0.getTime() - 1000 + 15 * DAY).toISOString(),
    });
  });

  it('ends the agreement six months after the peer received our termination notice (Art. 18)', () => {
    const provided = new Map([
      [
        ID,
        {
          id: ID,
          kind: 'termination-notice',
          from: 'cz-pp-ipc',
          toAuthority: 'kz-mia',
          sentAt: 'x',
          note: 'Note 9',
        },
      ],
    ]);
    const d = decideReceipt(
      receipt('delivered'),
      sent({ kind: 'termination-notice' }),
      factsOf(cz, { provided }),
    );
    expect(d).to.deep.nested.include({
      'effects[0].type': 'terminate',
      'effects[0].termination.diplomaticNote': 'Note 9',
      'effects[0].termination.party': 'CZ',
    });
  });

  it('activates our announced key once the peer has it, telling no authority', () => {
    const d = decideReceipt(receipt('delivered'), sent({ kind: 'key-announcement' }), factsOf(cz));
    expect(d).to.deep.equal({
      action: 'report',
      effects: [{ type: 'key-receipted', id: ID }],
      events: [],
      untold: true,
    });
  });
});
