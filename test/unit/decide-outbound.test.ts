/**
 * The outbound decisions, as tables: what a case system's submission is checked against before it is
 * sealed, and what sending it does — per article, per kind. Pure functions; no broker, no Redis.
 */
import { expect } from 'chai';
import type { Config } from '../../src/config.js';
import { messageIdFor } from '../../src/domain/ids.js';
import type { Effect, Facts } from '../../src/kinds/spec.js';
import {
  decideOutbound,
  decideSending,
  readHead,
  validateSubmission,
  type SendPlan,
} from '../../src/pipeline/decide-outbound.js';
import type { ErrorCode } from '../../src/errors.js';
import { T0 } from '../helpers/envelopes.js';
import { expectCode, expectRejection } from '../helpers/expect-code.js';
import { configOf, example, factsOf } from '../helpers/facts.js';

const DAY = 86_400_000;
const REQUEST_ID = '2b1f7a3e-5c4d-8e6f-9a0b-1c2d3e4f5a6b';

/** Validate and decide on a submission, with `over` as the facts its kind asked for. */
function decide(raw: Record<string, any>, config: Config, over: Partial<Facts> = {}) {
  const facts = factsOf(config, over);
  const head = readHead(raw, undefined, facts);
  return decideOutbound(validateSubmission(raw, head, facts), facts);
}

function planOf(d: ReturnType<typeof decide>): SendPlan {
  expect(d.action, JSON.stringify(d)).to.equal('send');
  return (d as { plan: SendPlan }).plan;
}

const types = (effects: Effect[]) => effects.map((e) => e.type);

describe('pipeline/decide-outbound: what a submission names before it is validated', () => {
  const config = configOf('cz');
  const facts = factsOf(config);

  it('names the message id that follows from the sender and key, and a known kind', () => {
    const head = readHead({ from: 'cz-pp-ipc', idempotencyKey: 'k-1', kind: 'request' }, undefined, facts);
    expect(head).to.deep.include({ sender: 'cz-pp-ipc', tell: 'cz-pp-ipc' });
    expect(head.named).to.deep.equal({
      idempotencyKey: 'k-1',
      messageId: messageIdFor('CZ', 'cz-pp-ipc', 'k-1'),
      kind: 'request',
    });
  });

  it('names no message id without a listed sender or a well-formed key, and no unknown kind', () => {
    expect(readHead({ from: 'cz-nobody', idempotencyKey: 'k-1' }, undefined, facts).named.messageId).to.equal(
      undefined,
    );
    const bad = readHead({ from: 'cz-pp-ipc', idempotencyKey: 'a b', kind: 'gossip' }, undefined, facts);
    expect(bad.named).to.deep.equal({ idempotencyKey: undefined, messageId: undefined, kind: undefined });
    expect(readHead({ kind: 'constructor' }, undefined, facts).named.kind).to.equal(undefined);
  });

  describe('Art. 10(7), 11(1): with access.submitters, only the authority whose broker user published it', () => {
    const withSubmitters = factsOf(
      configOf('cz', (c) => {
        c.access = {
          submitters: [
            { authority: 'cz-pp-ipc', brokerUser: 'ipc' },
            { authority: 'cz-ndh', brokerUser: 'ndh' },
          ],
        };
      }),
    );
    const raw = { from: 'cz-pp-ipc', idempotencyKey: 'k', kind: 'request' };

    it('lets the authority submit under its own broker user', () => {
      expect(readHead(raw, 'ipc', withSubmitters).denied).to.equal(undefined);
    });
    it('refuses a submission in another authority’s name, telling the one that published it', async () => {
      const denied = readHead(raw, 'ndh', withSubmitters).denied!;
      await expectCode(
        () => {
          throw denied.error;
        },
        'auth.sender_mismatch',
        'from',
      );
      expect(denied.tell).to.equal('cz-ndh');
    });
    it('refuses a submission without user_id, telling nobody (accord.dlq)', async () => {
      const denied = readHead(raw, undefined, withSubmitters).denied!;
      await expectCode(
        () => {
          throw denied.error;
        },
        'auth.user_id_missing',
        'user_id',
      );
      expect(denied.tell).to.equal(undefined);
    });
  });
});

describe('pipeline/decide-outbound: validation before anything is sealed', () => {
  const rows: [string, string, (s: Record<string, any>) => void, ErrorCode, string][] = [
    ['a missing sender (Art. 13)', 'request', (s) => delete s.from, 'schema.invalid', 'from'],
    [
      'an unlisted sender (Art. 13)',
      'request',
      (s) => (s.from = 'cz-nobody'),
      'auth.unknown_authority',
      'from',
    ],
    ['a missing field', 'request', (s) => delete s.body.summary, 'schema.invalid', 'body.summary'],
    [
      'a crime category outside Art. 2',
      'request',
      (s) => (s.body.crimeCategories = ['x']),
      'schema.invalid',
      'body.crimeCategories.0',
    ],
    ['another party as recipient', 'request', (s) => (s.to.party = 'CZ'), 'auth.wrong_party', 'to.party'],
    [
      'an unlisted recipient (Art. 13)',
      'request',
      (s) => (s.to.authority = 'kz-x'),
      'auth.unknown_recipient',
      'to.authority',
    ],
    [
      'a language not agreed (Art. 9(6))',
      'request',
      (s) => (s.language = 'de'),
      'policy.language_not_agreed',
      'language',
    ],
    [
      'a sensitive category without necessity (Art. 10(2))',
      'request',
      (s) => (s.body.persons = [{ familyName: 'Example', religion: 'x' }]),
      'policy.sensitive_without_necessity',
      'handling.necessity',
    ],
    [
      'a destruction deadline in the past (Art. 10(5))',
      'correction',
      (s) => (s.handling.destroyBy = new Date(T0.getTime() - DAY).toISOString()),
      'policy.destruction_deadline_invalid',
      'handling.destroyBy',
    ],
  ];
  for (const [what, kind, edit, code, path] of rows) {
    it(`rejects ${what}: ${code} at ${path}`, async () => {
      const { raw, config } = example(kind, edit);
      const facts = factsOf(config);
      await expectCode(() => validateSubmission(raw, readHead(raw, undefined, facts), facts), code, path);
    });
  }

  it('derives the Art. 10(2) flags and the Art. 10(5) default deadline, and says so in `sent`', () => {
    const { raw, config } = example('request', (s) => {
      s.body.persons = [{ familyName: 'Example', nationality: ['KZ'] }];
      s.handling.necessity = [{ category: 'nationality', statement: 'Needed to match the passport.' }];
    });
    const plan = planOf(decide(raw, config));
    expect(plan.envelope.handling.sensitive).to.deep.equal(['nationality']);
    expect(plan.envelope.handling.destroyBy).to.equal(new Date(T0.getTime() + 365 * DAY).toISOString());
    const [sent] = plan.sentEvents(T0.toISOString(), true);
    expect(sent!.event).to.deep.include({ type: 'sent', destroyByDefault: true });
    expect(sent!.event.message).to.match(/configured default \(365 days\)/);
  });

  it('warns when free text seems to describe sensitive data it cannot check (Art. 10(2))', () => {
    const { raw, config } = example('request', (s) => (s.body.details = 'The suspect is a Muslim.'));
    const events = planOf(decide(raw, config)).sentEvents(T0.toISOString(), true);
    expect(events.map((e) => e.event.type)).to.deep.equal(['sent', 'warning']);
    expect(events[1]!.event).to.include({ code: 'policy.sensitive_text_suspected' });
  });
});

describe('pipeline/decide-outbound: the treaty’s state and each kind’s checks', () => {
  it('rejects everything after the termination took effect (Art. 18)', async () => {
    const { raw, config } = example('reply');
    const termination = {
      noticeId: REQUEST_ID,
      party: 'CZ',
      diplomaticNote: 'n',
      receivedAt: new Date(T0.getTime() - 200 * DAY).toISOString(),
      effectiveAt: new Date(T0.getTime() - DAY).toISOString(),
    };
    await expectRejection(decide(raw, config, { termination }), 'treaty.terminated');
    const later = { ...termination, effectiveAt: new Date(T0.getTime() + DAY).toISOString() };
    planOf(decide(raw, config, { termination: later }));
  });

  for (const kind of ['suspension-notice', 'directory-update', 'termination-notice']) {
    it(`lets only a notifying authority send a ${kind} (Art. 13, 17, 18)`, async () => {
      const { raw, config } = example(kind);
      planOf(decide(raw, config));
      const other = configOf(config.party === 'CZ' ? 'cz' : 'kz', (c) => {
        c.treaty = { notifyingAuthorities: [] };
      });
      await expectRejection(decide(raw, other), 'treaty.not_notifying_authority', 'from');
    });
  }

  it('refuses a request in a suspended scope, and lets a reply through (Art. 17)', async () => {
    const suspensions = [
      {
        id: REQUEST_ID,
        party: 'KZ',
        action: 'suspend' as const,
        scope: 'all' as const,
        effectiveAt: new Date(T0.getTime() - DAY).toISOString(),
      },
    ];
    const request = example('request');
    await expectRejection(
      decide(request.raw, request.config, { suspensions }),
      'treaty.suspended',
      'body.crimeCategories',
    );
    const reply = example('reply');
    planOf(decide(reply.raw, reply.config, { suspensions }));
  });

  describe('Art. 9(4): a refusal answers a request this authority received from the addressee', () => {
    const seenRequest = {
      state: 'delivered' as const,
      copy: 'c',
      jweSha256: 'x',
      receiptJwe: 'r',
      kind: 'request',
      fromAuthority: 'cz-pp-ipc',
      toAuthority: 'kz-mia',
    };
    it('rejects a refusal of a request never received', async () => {
      const { raw, config } = example('refusal');
      await expectRejection(decide(raw, config), 'policy.not_a_request', 'body.inReplyTo');
    });
    it('rejects a refusal of something that is not a request, or from another authority', async () => {
      const { raw, config } = example('refusal');
      const notRequest = new Map([[REQUEST_ID, { ...seenRequest, kind: 'reply' }]]);
      await expectRejection(decide(raw, config, { seen: notRequest }), 'policy.not_a_request');
      const toOther = new Map([[REQUEST_ID, { ...seenRequest, toAuthority: 'kz-ncb' }]]);
      await expectRejection(decide(raw, config, { seen: toOther }), 'policy.not_a_request');
    });
    it('sends it as the signed refusal notice of Art. 9(5), meets the reply deadline and counts it', () => {
      const { raw, config } = example('refusal');
      const plan = planOf(decide(raw, config, { seen: new Map([[REQUEST_ID, seenRequest]]) }));
      expect(plan.envelope.kind).to.equal('refusal-notice');
      expect(plan.envelope.body).to.deep.include({ decidedBy: { kind: 'authority', ref: 'kz-mia' } });
      expect(plan.recorded(T0.toISOString())).to.deep.include({
        type: 'satisfy',
        kind: 'reply-due',
        id: REQUEST_ID,
      });
      expect(types(plan.counted)).to.include('refused');
    });
  });

  describe('Art. 10(3), 10(4): what a correction, erasure or usage-report request refers to', () => {
    const ORIGINAL = '5b0e7c3e-2f4a-4c55-9a51-0d5f3c2b9a10';
    const provided = (over: Record<string, unknown> = {}) =>
      new Map([
        [
          ORIGINAL,
          {
            id: ORIGINAL,
            kind: 'person-search',
            from: 'cz-pp-ipc',
            toAuthority: 'kz-mia',
            sentAt: 'x',
            ...over,
          },
        ],
      ]);
    for (const [kind, path] of [
      ['correction', 'body.refersTo'],
      ['erasure', 'body.refersTo'],
      ['usage-report-request', 'body.references.0'],
    ] as const) {
      it(`rejects a ${kind} about a message not provided to the addressee: policy.not_provided at ${path}`, async () => {
        const { raw, config } = example(kind);
        await expectRejection(decide(raw, config), 'policy.not_provided', path);
        await expectRejection(
          decide(raw, config, { provided: provided({ toAuthority: 'kz-ncb' }) }),
          'policy.not_provided',
          path,
        );
        planOf(decide(raw, config, { provided: provided() }));
      });
    }

    it('rejects a usage report that answers no usage-report request this authority received', async () => {
      const { raw, config } = example('usage-report');
      const id = raw.body.inReplyTo as string;
      await expectRejection(decide(raw, config), 'policy.not_a_usage_request', 'body.inReplyTo');
      const received = (kind: string) =>
        new Map([
          [
            id,
            {
              id,
              kind,
              fromAuthority: 'cz-pp-ipc',
              authority: 'kz-mia',
              receivedAt: 'x',
              personal: false,
              state: 'held' as const,
            },
          ],
        ]);
      await expectRejection(
        decide(raw, config, { received: received('request') }),
        'policy.not_a_usage_request',
      );
      const plan = planOf(decide(raw, config, { received: received('usage-report-request') }));
      expect(plan.recorded('t')).to.deep.include({ type: 'satisfy', kind: 'usage-report-due', id });
    });
  });
});

describe('pipeline/decide-outbound: what sending each kind does', () => {
  it('a request that confirms an oral one meets its deadline (Art. 9(1))', () => {
    const oral = '7e2b1f3a-4c5d-8e6f-9a0b-1c2d3e4f5a6b';
    const { raw, config } = example('request', (s) => (s.body.confirmsOral = oral));
    expect(planOf(decide(raw, config)).recorded('t')).to.deep.include({
      type: 'satisfy',
      kind: 'oral-confirmation-due',
      id: oral,
    });
  });

  it('a reply meets the reply deadline (Art. 9(2))', () => {
    const { raw, config } = example('reply');
    expect(planOf(decide(raw, config)).recorded('t')).to.deep.include({
      type: 'satisfy',
      kind: 'reply-due',
      id: REQUEST_ID,
    });
  });

  it('a consent request is kept in the ledger until answered (Art. 10(1), 11(2))', () => {
    const { raw, config } = example('consent-request');
    const plan = planOf(decide(raw, config));
    expect(plan.recorded('t')).to.deep.include({ type: 'consent-requested', id: plan.id, at: 't' });
  });

  it('a suspension notice is recorded before it is published, its effective time unknown (Art. 17)', () => {
    const { raw, config } = example('suspension-notice');
    const plan = planOf(decide(raw, config));
    expect(plan.prepare).to.deep.equal([
      {
        type: 'suspension',
        entry: {
          id: plan.id,
          party: 'KZ',
          action: 'suspend',
          scope: { crimeCategories: ['drug-trafficking'] },
        },
      },
    ]);
  });

  it('a termination notice keeps its diplomatic note with the provided record (Art. 18)', () => {
    const { raw, config } = example('termination-notice');
    const provided = planOf(decide(raw, config))
      .recorded('t')
      .find((e) => e.type === 'provided');
    expect(provided).to.have.nested.property(
      'record.note',
      'Note verbale No. 123/2026-MZV of 28 November 2026',
    );
  });

  it('every kind sent is recorded: the ledger and an Art. 10(6) record, in that order, last', () => {
    for (const kind of ['request', 'travel-document', 'spontaneous', 'person-search', 'reply']) {
      const { raw, config } = example(kind);
      expect(types(planOf(decide(raw, config)).recorded('t')).slice(-2), kind).to.deep.equal([
        'provided',
        'audit',
      ]);
    }
  });
});

describe('pipeline/decide-outbound: after the sending claim', () => {
  const rows: [string, Parameters<typeof decideSending>[0], ReturnType<typeof decideSending>][] = [
    [
      'the first submission of a key takes the claim and sends',
      { claimed: true, sentAt: undefined, redelivered: false },
      'send',
    ],
    [
      'a concurrent submission of the key finds it taken: a duplicate',
      { claimed: false, sentAt: undefined, redelivered: false },
      'duplicate',
    ],
    [
      'the same key after sending: a duplicate',
      { claimed: false, sentAt: 't', redelivered: false },
      'duplicate',
    ],
    [
      'a redelivery of a claimed, unsent message finishes it',
      { claimed: false, sentAt: undefined, redelivered: true },
      'send',
    ],
    [
      'a redelivery of a sent message re-issues `sent`, sending nothing',
      { claimed: false, sentAt: 't', redelivered: true },
      'resume',
    ],
  ];
  for (const [what, facts, expected] of rows) {
    it(`${what} (${expected})`, () => expect(decideSending(facts)).to.equal(expected));
  }
});
