/**
 * The registry of kinds, and the decisions on the submissions the gateway keeps itself — the export
 * gate (Art. 11(2)), the oral request (Art. 9(1)), the review decision (Art. 9(4), 9(5)), the
 * confirmations of destruction and correction (Art. 10(4), 10(5)) — as tables. Pure; no broker.
 */
import { expect } from 'chai';
import { GATEWAY_ONLY, SUBMITTABLE } from '../../src/domain/messages.js';
import { SUBMISSION_KINDS } from '../../src/domain/submission.js';
import { identifierHash } from '../../src/policy/onward-transfer.js';
import { kindSpec, localSpecOf } from '../../src/kinds/index.js';
import type { Effect, Facts, LocalDecision } from '../../src/kinds/spec.js';
import type { ReceivedRecord } from '../../src/pipeline/ports.js';
import type { ReviewRecord } from '../../src/policy/review.js';
import { afterReviewClaim, decideLocal } from '../../src/pipeline/decide-outbound.js';
import { T0, requestEnvelope } from '../helpers/envelopes.js';
import { expectRejection } from '../helpers/expect-code.js';
import { configOf, factsOf } from '../helpers/facts.js';

const DAY = 86_400_000;
const at = (ms: number) => new Date(T0.getTime() + ms).toISOString();
const REF = '5b0e7c3e-2f4a-4c55-9a51-0d5f3c2b9a10';
const ID = '9d0e7c3e-2f4a-8c55-9a51-0d5f3c2b9a10';

/** Validate a kept submission with its kind's schema and decide on it. */
function decide(s: Record<string, unknown>, facts: Facts, redelivered = false): LocalDecision {
  const spec = localSpecOf(s.kind as string)!;
  return decideLocal(spec, spec.schema.parse(s), ID, facts, redelivered);
}

function carriedOut(d: LocalDecision) {
  expect(d.action, JSON.stringify(d).slice(0, 300)).to.equal('carry-out');
  return d as Extract<LocalDecision, { action: 'carry-out' }>;
}

const ofType = <T extends Effect['type']>(effects: Effect[], type: T) =>
  effects.filter((e): e is Extract<Effect, { type: T }> => e.type === type);

describe('kinds/index: one home per kind', () => {
  it('has a spec naming its articles for every kind of domain/messages.ts', () => {
    for (const kind of [...Object.keys(SUBMITTABLE), ...Object.keys(GATEWAY_ONLY)]) {
      // The heartbeat is operations, not a message of the agreement: its spec says so.
      if (kind === 'heartbeat') expect(kindSpec(kind).articles).to.match(/^none \(/);
      else expect(kindSpec(kind).articles, kind).to.match(/Art\. \d/);
    }
  });

  it('knows how to handle every kind a case system may submit: sealed for the peer, or kept', () => {
    for (const kind of SUBMISSION_KINDS) {
      expect(kind in SUBMITTABLE || localSpecOf(kind) !== undefined, kind).to.equal(true);
    }
  });

  it('finds nothing for a name that is not a kind, even one of an object’s properties', () => {
    expect(kindSpec('constructor')).to.deep.equal({ articles: '' });
    expect(localSpecOf('toString')).to.equal(undefined);
  });
});

describe('kinds/onward-transfer: the export gate (Art. 11(2))', () => {
  const cz = configOf('cz');
  const exp = (body: Record<string, unknown> = {}) => ({
    idempotencyKey: 'e-1',
    from: 'cz-pp-ipc',
    kind: 'export',
    body: { destination: 'interpol', references: [REF], summary: 'S', ...body },
  });
  const receivedFromPeer = {
    seen: new Map([
      [
        REF,
        {
          state: 'delivered' as const,
          copy: 'c',
          jweSha256: 'x',
          receiptJwe: 'r',
          kind: 'reply',
          fromAuthority: 'kz-mia',
          toAuthority: 'cz-pp-ipc',
        },
      ],
    ]),
  };
  const CONSENT = '3c1d2e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f';
  const consent = (until: string) => ({
    gate: { consents: new Map([[REF, { validUntil: until, consentId: CONSENT }]]), origins: new Map() },
  });

  it('blocks a destination not listed in the config', async () => {
    await expectRejection(
      decide(exp({ destination: 'nowhere' }), factsOf(cz)),
      'policy.unknown_destination',
      'body.destination',
    );
  });

  it('blocks a message whose origin cannot be verified', async () => {
    await expectRejection(decide(exp(), factsOf(cz)), 'policy.onward_transfer_blocked', 'body.references.0');
  });

  it('blocks a message received from the peer without its consent, or with an expired one', async () => {
    await expectRejection(
      decide(exp(), factsOf(cz, receivedFromPeer)),
      'policy.onward_transfer_blocked',
      'body.references.0',
    );
    await expectRejection(
      decide(exp(), factsOf(cz, { ...receivedFromPeer, ...consent(at(-DAY)) })),
      'policy.onward_transfer_blocked',
    );
  });

  it('passes one covered by the provider’s unexpired written consent, naming it in the record', () => {
    const d = carriedOut(decide(exp(), factsOf(cz, { ...receivedFromPeer, ...consent(at(DAY)) })));
    expect(d.deliveries[0]).to.deep.nested.include({
      to: 'export',
      destination: 'interpol',
      'record.consents': [CONSENT],
    });
    expect(ofType(d.effects, 'audit')[0]!.record).to.deep.include({
      type: 'export-decision',
      toAuthority: 'export/interpol',
    });
  });

  it('passes a message this gateway sent itself without any consent', () => {
    const sent = new Map([
      [
        REF,
        {
          jwe: 'j',
          jweSha256: 'x',
          from: 'cz-pp-ipc',
          idempotencyKey: 'k',
          kind: 'request',
          toParty: 'KZ',
          toAuthority: 'kz-mia',
          sealedAt: 'x',
        },
      ],
    ]);
    carriedOut(decide(exp(), factsOf(cz, { sent })));
  });

  it('blocks an identifier received from the peer that no consent covers, beyond what is declared', async () => {
    const key = cz.policy.identifierKey!;
    const hash = identifierHash(key, 'document:N12345678');
    const body = {
      references: [],
      travelDocuments: [{ number: 'N12345678', type: 'passport', status: 'stolen' }],
    };
    const gate = { consents: new Map(), origins: new Map([[hash, [REF]]]) };
    await expectRejection(
      decide(exp(body), factsOf(cz, { gate })),
      'policy.onward_transfer_blocked',
      'body.travelDocuments.0.number',
    );
  });
});

describe('kinds/requests: the record of an oral request (Art. 9(1))', () => {
  const cz = configOf('cz');
  const oral = (to = 'kz-mia') => ({
    idempotencyKey: 'o-1',
    from: 'cz-pp-ipc',
    kind: 'oral-request',
    body: { to: { party: 'KZ', authority: to }, madeAt: at(0), summary: 'Called the duty officer.' },
  });

  it('refuses one made to an authority not in the peer’s directory', async () => {
    await expectRejection(decide(oral('kz-x'), factsOf(cz)), 'auth.unknown_recipient', 'body.to');
  });

  it('starts the deadline for its written confirmation, oralConfirmationHours after it was made', () => {
    const d = carriedOut(decide(oral(), factsOf(cz)));
    expect(d.effects).to.deep.equal([
      {
        type: 'schedule',
        deadline: { kind: 'oral-confirmation-due', id: ID, authority: 'cz-pp-ipc', dueAt: at(DAY) },
      },
    ]);
  });
});

describe('kinds/requests: a person’s decision on a request held for review (Art. 9(4), 9(5))', () => {
  const kz = configOf('kz');
  const request = requestEnvelope();
  const record: ReviewRecord = {
    id: request.id,
    jwe: 'j',
    authority: 'kz-mia',
    addressedTo: 'kz-mia',
    fromAuthority: 'cz-pp-ipc',
    receivedAt: at(-DAY),
    state: 'pending',
  };
  const held = (over: Partial<NonNullable<Facts['review']>> = {}) =>
    factsOf(kz, {
      review: {
        record,
        done: false,
        opened: {
          envelope: request,
          verification: {
            jweSha256: 'a'.repeat(64),
            encryptionKid: 'e',
            signatureKid: 's',
            signatureAlg: 'ES256',
            keyEncryptionAlg: 'k',
            contentEncryptionAlg: 'c',
          },
        },
        ...over,
      },
    });
  const decision = (body: Record<string, unknown>, from = 'kz-mia') => ({
    idempotencyKey: 'd-1',
    from,
    kind: 'decision',
    body: { inReplyTo: request.id, ...body },
  });
  const claimed = (d: LocalDecision, outcome: Parameters<typeof afterReviewClaim>[1]) => {
    expect(d.action).to.equal('claim-review');
    return afterReviewClaim(d as Extract<LocalDecision, { action: 'claim-review' }>, outcome);
  };

  it('refuses a decision on no held request, by another authority, or on one that cannot be opened again', async () => {
    await expectRejection(
      decide(decision({ decision: 'accept' }), factsOf(kz, { review: { record: null, done: false } })),
      'policy.review_unknown',
    );
    await expectRejection(
      decide(decision({ decision: 'accept' }, 'kz-ncb'), held()),
      'auth.not_reviewer',
      'from',
    );
    await expectRejection(
      decide(decision({ decision: 'accept' }), held({ opened: 'unavailable' })),
      'policy.review_unavailable',
    );
  });

  it('answers a decision carried out before as a duplicate, and one decided by another decision with policy.review_decided', async () => {
    expect(decide(decision({ decision: 'accept' }), held({ done: true }))).to.deep.equal({
      action: 'duplicate',
    });
    expect(claimed(decide(decision({ decision: 'accept' }), held()), 'again')).to.deep.equal({
      action: 'duplicate',
    });
    await expectRejection(
      claimed(decide(decision({ decision: 'accept' }), held()), 'already-decided'),
      'policy.review_decided',
    );
  });

  it('carries out a decision again only on the broker’s redelivery of its own attempt', () => {
    const d = claimed(decide(decision({ decision: 'accept' }), held(), true), 'again');
    expect(d.action).to.equal('carry-out');
  });

  it('accept: delivers the request to the reviewing authority with the decision; nothing to the requester', () => {
    const d = carriedOut(claimed(decide(decision({ decision: 'accept' }), held()), 'decided'));
    expect(d.deliveries[0]).to.deep.nested.include({
      to: 'inbox',
      authority: 'kz-mia',
      'delivery.decision.decision': 'accept',
    });
    expect(ofType(d.effects, 'notice')).to.deep.equal([]);
    expect(ofType(d.effects, 'held-by')).to.have.length(1);
    expect(d.after[0]).to.deep.equal({ type: 'review-done', id: request.id, decisionId: ID });
  });

  it('accept-with-conditions: a signed acceptance notice whose conditions bind the requester, and the delivery', () => {
    const d = carriedOut(
      claimed(
        decide(decision({ decision: 'accept-with-conditions', conditions: ['Only for case 7.'] }), held()),
        'decided',
      ),
    );
    expect(ofType(d.effects, 'notice')[0]).to.deep.include({ what: 'acceptance-person' });
    expect(ofType(d.effects, 'notice')[0]!.content).to.deep.include({ conditions: ['Only for case 7.'] });
    expect(d.deliveries[0]).to.deep.nested.include({ 'delivery.decision.conditions': ['Only for case 7.'] });
  });

  it('refuse-partial: a partial refusal notice naming the parts, and the delivery with them', () => {
    const d = carriedOut(
      claimed(
        decide(
          decision({
            decision: 'refuse-partial',
            parts: ['the photos'],
            grounds: ['security'],
            explanation: 'No photos.',
          }),
          held(),
        ),
        'decided',
      ),
    );
    expect(ofType(d.effects, 'notice')[0]!.content.body).to.deep.include({
      scope: 'partial',
      parts: ['the photos'],
    });
    expect(d.deliveries[0]).to.deep.nested.include({ 'delivery.decision.refusedParts': ['the photos'] });
  });

  it('refuse: a full refusal notice at once, the reply deadline met, nothing delivered', () => {
    const d = carriedOut(
      claimed(
        decide(decision({ decision: 'refuse', grounds: ['security'], explanation: 'No.' }), held()),
        'decided',
      ),
    );
    expect(ofType(d.effects, 'notice')[0]!.content.body).to.deep.include({
      scope: 'full',
      decidedBy: { kind: 'person', ref: 'kz-mia' },
    });
    expect(d.effects).to.deep.include({ type: 'satisfy', kind: 'reply-due', id: request.id });
    expect(d.deliveries).to.deep.equal([]);
    expect(ofType(d.after, 'refused')).to.have.length(1);
  });
});

describe('kinds/data-protection: confirmations of destruction and correction (Art. 10(4), 10(5))', () => {
  const kz = configOf('kz');
  const rec = (over: Partial<ReceivedRecord> = {}): Map<string, ReceivedRecord> =>
    new Map([
      [
        REF,
        {
          id: REF,
          kind: 'person-search',
          fromAuthority: 'cz-pp-ipc',
          authority: 'kz-mia',
          receivedAt: at(-DAY),
          personal: true,
          state: 'held',
          ...over,
        },
      ],
    ]);
  const destroyed = (reason: string, from = 'kz-mia') => ({
    idempotencyKey: 'x-1',
    from,
    kind: 'destruction-confirmed',
    body: { messageId: REF, reason },
  });

  it('refuses a destruction of a message this authority did not receive, or without personal data', async () => {
    await expectRejection(
      decide(destroyed('deadline'), factsOf(kz)),
      'policy.not_received',
      'body.messageId',
    );
    await expectRejection(
      decide(destroyed('deadline', 'kz-ncb'), factsOf(kz, { received: rec() })),
      'policy.not_received',
    );
    await expectRejection(
      decide(destroyed('deadline'), factsOf(kz, { received: rec({ personal: false }) })),
      'policy.not_received',
    );
  });

  it('refuses a destruction for an erasure when no erasure was received (Art. 10(4))', async () => {
    await expectRejection(
      decide(destroyed('erasure'), factsOf(kz, { received: rec() })),
      'policy.not_received',
      'body.reason',
    );
  });

  it('records a destruction, meets its deadlines, and confirms an erasure to the provider', () => {
    const d = carriedOut(decide(destroyed('erasure'), factsOf(kz, { received: rec({ erasureId: ID }) })));
    expect(ofType(d.effects, 'audit')[0]!.record).to.deep.include({
      type: 'destruction',
      reason: 'Art. 10(5) erasure',
      refersTo: ID,
    });
    expect(ofType(d.effects, 'satisfy').map((s) => s.kind)).to.deep.equal([
      'destruction-due',
      'destruction-confirmation-due',
      'erasure-confirmation-due',
    ]);
    expect(ofType(d.effects, 'confirmation')[0]).to.deep.include({ from: 'kz-mia', to: 'cz-pp-ipc' });
    expect(ofType(d.effects, 'destroyed')).to.have.length(1);
  });

  it('confirms a destruction at the deadline to the provider only when notifyProvider is set', () => {
    const plain = carriedOut(decide(destroyed('deadline'), factsOf(kz, { received: rec() })));
    expect(ofType(plain.effects, 'confirmation')).to.deep.equal([]);
    const notify = configOf('kz', (c) => (c.dataProtection = { destruction: { notifyProvider: true } }));
    expect(
      ofType(
        carriedOut(decide(destroyed('deadline'), factsOf(notify, { received: rec() }))).effects,
        'confirmation',
      ),
    ).to.have.length(1);
  });

  it('answers a destruction recorded before as a duplicate, unless it is the broker’s redelivery', () => {
    const facts = factsOf(kz, { received: rec({ state: 'destroyed' }) });
    expect(decide(destroyed('deadline'), facts)).to.deep.equal({ action: 'duplicate' });
    expect(decide(destroyed('deadline'), facts, true).action).to.equal('carry-out');
  });

  const corrected = (from = 'kz-mia') => ({
    idempotencyKey: 'c-1',
    from,
    kind: 'correction-confirmed',
    body: { correctionId: REF },
  });

  it('refuses a correction confirmation for something that is not a correction this authority received', async () => {
    await expectRejection(
      decide(corrected(), factsOf(kz, { received: rec() })),
      'policy.not_received',
      'body.correctionId',
    );
    await expectRejection(
      decide(corrected('kz-ncb'), factsOf(kz, { received: rec({ kind: 'correction' }) })),
      'policy.not_received',
    );
  });

  it('confirms a correction to the provider and meets its deadline; once', () => {
    const received = rec({ kind: 'correction' });
    const d = carriedOut(decide(corrected(), factsOf(kz, { received })));
    expect(ofType(d.effects, 'confirmation')[0]!.body).to.deep.include({
      action: 'corrected',
      refersTo: REF,
    });
    expect(d.effects).to.deep.include({ type: 'satisfy', kind: 'correction-confirmation-due', id: REF });
    const met = new Set([`correction-confirmation-due:${REF}`]);
    expect(decide(corrected(), factsOf(kz, { received, met }))).to.deep.equal({ action: 'duplicate' });
  });
});
