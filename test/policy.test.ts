import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import type { SubmissionInput } from '../src/client/index.js';
import { names } from '../src/config.js';
import type { EnvelopeOf } from '../src/domain/envelope.js';
import { matchRefusalRule } from '../src/policy/refusal.js';
import { checkSensitiveData, sensitiveCategoriesOf, suspectFreeText } from '../src/policy/sensitive-data.js';
import {
  publishRaw,
  startPair,
  waitForDeadLetter,
  type Pair,
  type TestAuthority,
  example,
  sealAsCz,
  testEnvelope,
} from './helpers/harness.js';
import { expectCode } from './helpers/expect-code.js';

describe('policy/sensitive-data (Art. 10(2): sensitive data "may be provided only when necessary")', () => {
  const person = { familyName: 'Example', nationality: ['KZ'], health: 'diabetic, needs insulin' };

  it('derives the categories from the explicit fields of every data subject', () => {
    expect(sensitiveCategoriesOf('person-search', { person })).to.deep.equal(['health', 'nationality']);
    expect(
      sensitiveCategoriesOf('request', {
        persons: [{ familyName: 'A' }, { familyName: 'B', religion: 'x' }],
      }),
    ).to.deep.equal(['religion']);
    expect(sensitiveCategoriesOf('travel-document', { documents: [] })).to.deep.equal([]);
  });

  it('allows sensitive data with a necessity statement for each category', () => {
    const handling = {
      purposes: ['combating-crime' as const],
      conditions: [],
      necessity: [
        { category: 'nationality' as const, statement: 'needed to find the consulate' },
        { category: 'health' as const, statement: 'the person needs medication within 48 hours' },
      ],
    };
    expect(checkSensitiveData('person-search', { person }, handling)).to.deep.equal([
      'health',
      'nationality',
    ]);
  });

  it('refuses sensitive data without a necessity statement', async () => {
    const handling = {
      purposes: ['combating-crime' as const],
      conditions: [],
      necessity: [{ category: 'nationality' as const, statement: 'needed' }],
    };
    await expectCode(
      () => checkSensitiveData('person-search', { person }, handling),
      'policy.sensitive_without_necessity',
    );
    await expectCode(
      () => checkSensitiveData('person-search', { person }, undefined),
      'policy.sensitive_without_necessity',
    );
  });

  it('refuses declared flags that do not match the data, and statements for data that is not there', async () => {
    const base = { purposes: ['combating-crime' as const], conditions: [] };
    await expectCode(
      () =>
        checkSensitiveData(
          'person-search',
          { person: { familyName: 'X' } },
          { ...base, sensitive: ['health'] },
        ),
      'policy.sensitive_flags_mismatch',
    );
    await expectCode(
      () =>
        checkSensitiveData(
          'person-search',
          { person: { familyName: 'X' } },
          { ...base, necessity: [{ category: 'religion', statement: 's' }] },
        ),
      'policy.sensitive_flags_mismatch',
    );
    // A signed envelope must declare what it carries.
    const justified = { ...base, necessity: [{ category: 'religion' as const, statement: 's' }] };
    await expectCode(
      () =>
        checkSensitiveData('person-search', { person: { familyName: 'X', religion: 'y' } }, justified, {
          requireDeclared: true,
        }),
      'policy.sensitive_flags_mismatch',
    );
  });

  it('allows personal data that is not sensitive without any statement', () => {
    expect(
      checkSensitiveData(
        'person-search',
        { person: { familyName: 'X', dateOfBirth: '2001-01-01' } },
        undefined,
      ),
    ).to.deep.equal([]);
  });

  it('points at free text that looks sensitive', () => {
    expect(
      suspectFreeText({ summary: 'Previously convicted of fraud', details: 'nothing else' }),
    ).to.deep.equal(['body.summary']);
    expect(suspectFreeText({ summary: 'Stolen passport' })).to.deep.equal([]);
  });
});

describe('policy/refusal rules (Art. 9(4))', () => {
  const request = {
    kind: 'request',
    from: { party: 'CZ', authority: 'cz-pp-ipc' },
    to: { party: 'KZ', authority: 'kz-mia' },
    body: {
      crimeCategories: ['forgery'],
      informationTypes: ['travel-documents'],
      assistanceTypes: ['search-objects'],
    },
  } as unknown as EnvelopeOf<'request'>;
  const rule = (when: Record<string, string[]>) => ({
    id: 'r',
    when,
    decision: 'refuse' as const,
    grounds: ['security' as const],
    explanation: 'e',
  });

  it('matches when every named criterion matches one of its values', () => {
    expect(matchRefusalRule([rule({ crimeCategories: ['corruption', 'forgery'] })], request)?.id).to.equal(
      'r',
    );
    expect(
      matchRefusalRule([rule({ crimeCategories: ['forgery'], fromAuthorities: ['cz-ndh'] })], request),
    ).to.equal(undefined);
    expect(matchRefusalRule([rule({ assistanceTypes: ['special-techniques'] })], request)).to.equal(
      undefined,
    );
    expect(matchRefusalRule([rule({ toAuthorities: ['kz-mia'] })], request)?.id).to.equal('r');
  });

  it('applies the first matching rule', () => {
    const first = { ...rule({ crimeCategories: ['forgery'] }), id: 'first' };
    const second = { ...rule({ crimeCategories: ['forgery'] }), id: 'second' };
    expect(matchRefusalRule([first, second], request)?.id).to.equal('first');
  });
});

describe('the agreement’s rules between two gateways', () => {
  let pair: Pair;
  let czIpc: TestAuthority;
  let kzMia: TestAuthority;
  let kzNcb: TestAuthority;
  before(async () => {
    pair = await startPair((raw) => {
      // Art. 9(1) deadline of 1.8 s, so the test drives the time instead of waiting a day.
      if (raw.party === 'CZ') raw.policy = { ...raw.policy, oralConfirmationHours: 0.0005 };
      if (raw.party !== 'KZ') return;
      raw.policy = {
        ...raw.policy,
        competence: [
          { authority: 'kz-ncb', informationTypes: ['travel-documents', 'missing-and-searched-persons'] },
          {
            authority: 'kz-mia',
            crimeCategories: ['economic-crime', 'corruption', 'forgery', 'organized-crime'],
          },
        ],
        refusalRules: [
          {
            id: 'no-special-techniques-for-ncb',
            when: { assistanceTypes: ['special-techniques'], toAuthorities: ['kz-ncb'] },
            decision: 'refuse',
            grounds: ['national-legislation'],
            explanation: 'Special investigative techniques are requested through the Ministry, not the NCB.',
          },
        ],
      };
    });
    czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
    kzMia = await pair.authority(pair.kzConfig, 'kz-mia');
    kzNcb = await pair.authority(pair.kzConfig, 'kz-ncb');
  });
  after(async () => {
    await pair.close();
  });

  it('Art. 10(2): refuses sensitive data without a necessity statement before sealing; nothing is sent', async () => {
    const sub = example('person-search', 'sens-1');
    sub.from = 'cz-pp-ipc';
    sub.to = { party: 'KZ', authority: 'kz-mia' };
    sub.body.person.religion = 'stated in the file';
    await czIpc.client.submitRaw(Buffer.from(JSON.stringify(sub)));
    const ev = await czIpc.events.waitFor((e) => e.idempotencyKey === 'sens-1', 10_000, 'rejection');
    expect(ev).to.include({
      type: 'rejected',
      code: 'policy.sensitive_without_necessity',
      path: 'handling.necessity',
    });
    expect(
      czIpc.events.items.filter((e) => e.idempotencyKey === 'sens-1' && e.type === 'sent'),
    ).to.have.length(0);
  });

  it('Art. 10(2): carries sensitive data with its necessity, bound into the signature and shown on delivery', async () => {
    const sub = example('person-search', 'sens-2');
    sub.from = 'cz-pp-ipc';
    sub.to = { party: 'KZ', authority: 'kz-mia' };
    sub.body.person.nationality = ['KZ'];
    sub.handling = {
      purposes: ['combating-crime'],
      conditions: [],
      necessity: [{ category: 'nationality', statement: 'Consular notification of a missing minor' }],
    };
    const { messageId } = await czIpc.client.submit(sub as SubmissionInput);
    const got = await kzMia.inbox.waitFor((d) => d.envelope.id === messageId, 10_000, 'delivery');
    expect(got.handling.sensitive).to.deep.equal(['nationality']);
    expect(got.envelope.handling.sensitive).to.deep.equal(['nationality']);
    expect(got.handling.necessity?.[0]?.statement).to.equal('Consular notification of a missing minor');
  });

  it('Art. 10(2) at the receiver: a signed envelope whose flags hide its sensitive data is parked, not delivered', async () => {
    const env = testEnvelope({
      kind: 'person-search',
      body: { reason: 'missing', person: { familyName: 'X', health: 'serious' }, summary: 'missing person' },
    });
    await publishRaw(names(pair.kzConfig.namespace).ingress, await sealAsCz(pair.czConfig, env));
    const letter = await waitForDeadLetter(names(pair.kzConfig.namespace).dlq, (l) => l.messageId === env.id);
    expect(letter.code).to.equal('policy.sensitive_flags_mismatch');
    expect(kzMia.inbox.items.some((d) => d.envelope.id === env.id)).to.equal(false);
  });

  it('Art. 10(2): free text that looks sensitive is sent with a warning to its sender', async () => {
    const sub = example('request', 'sens-3');
    sub.body.details = 'The holder was previously convicted of document fraud in 2019.';
    const { messageId } = await czIpc.client.submit(sub as SubmissionInput);
    const warning = await czIpc.events.waitFor(
      (e) => e.type === 'warning' && e.messageId === messageId,
      10_000,
      'warning',
    );
    expect(warning).to.include({ code: 'policy.sensitive_text_suspected', path: 'body.details' });
    await kzMia.inbox.waitFor((d) => d.envelope.id === messageId, 10_000, 'delivered anyway');
  });

  it('Art. 9(4), 9(5): a request a rule refuses never reaches the authority; the requester gets the signed notice at once', async () => {
    const sub = example('request', 'refuse-rule-1');
    sub.to = { party: 'KZ', authority: 'kz-ncb' };
    sub.body.assistanceTypes = ['special-techniques'];
    const { messageId } = await czIpc.client.submit(sub as SubmissionInput);
    const refused = await czIpc.events.waitFor(
      (e) => e.type === 'refused' && e.messageId === messageId,
      10_000,
      'refused event',
    );
    expect(refused).to.include({ code: 'policy.refused', kind: 'request' });
    expect(refused.refusal).to.deep.include({ scope: 'full', grounds: ['national-legislation'] });
    const notice = await czIpc.inbox.waitFor(
      (d) => d.envelope.kind === 'refusal-notice' && d.envelope.id === refused.refusal!.noticeId,
      10_000,
      'notice',
    );
    if (notice.envelope.kind !== 'refusal-notice') throw new Error('not a notice');
    expect(notice.envelope.from).to.deep.equal({ party: 'KZ', authority: 'kz-ncb' });
    expect(notice.envelope.body).to.deep.include({
      inReplyTo: messageId,
      decidedBy: { kind: 'rule', ref: 'no-special-techniques-for-ncb' },
    });
    expect(notice.verification.signatureKid).to.match(/^kz-sig-/);
    // The notice itself is receipted, so KZ knows the requester has it.
    await kzNcb.events.waitFor(
      (e) => e.type === 'delivered' && e.messageId === notice.envelope.id,
      10_000,
      'notice delivered',
    );
    expect(kzNcb.inbox.items.some((d) => d.envelope.id === messageId)).to.equal(false);
    expect(czIpc.events.items.some((e) => e.type === 'delivered' && e.messageId === messageId)).to.equal(
      false,
    );
  });

  it('Art. 9(4), 9(5): the case system refuses in part; the requester gets the notice with the parts and grounds', async () => {
    const { messageId } = await czIpc.client.submit(example('request', 'refuse-person-1') as SubmissionInput);
    await kzMia.inbox.waitFor((d) => d.envelope.id === messageId, 10_000, 'the request at KZ');
    const refusal = example('refusal', 'refuse-person-1/answer');
    refusal.body.inReplyTo = messageId;
    await kzMia.client.submit(refusal as SubmissionInput);
    const refused = await czIpc.events.waitFor(
      (e) => e.type === 'refused' && e.messageId === messageId,
      10_000,
      'refused',
    );
    expect(refused.refusal?.scope).to.equal('partial');
    const notice = await czIpc.inbox.waitFor(
      (d) => d.envelope.id === refused.refusal!.noticeId,
      10_000,
      'notice',
    );
    if (notice.envelope.kind !== 'refusal-notice') throw new Error('not a notice');
    expect(notice.envelope.body.parts).to.deep.equal(['surveillance records of the border crossing']);
    expect(notice.envelope.body.decidedBy).to.deep.equal({ kind: 'authority', ref: 'kz-mia' });
  });

  it('Art. 9(2): a request addressed to an authority not competent for it goes to the competent one, and the requester is told', async () => {
    const sub = example('request', 'referral-1');
    sub.to = { party: 'KZ', authority: 'kz-ncb' };
    sub.body.crimeCategories = ['economic-crime'];
    sub.body.informationTypes = ['suspicious-transactions'];
    sub.body.assistanceTypes = [];
    delete sub.body.travelDocuments;
    const { messageId } = await czIpc.client.submit(sub as SubmissionInput);
    const got = await kzMia.inbox.waitFor(
      (d) => d.envelope.id === messageId,
      10_000,
      'the referred request at kz-mia',
    );
    expect(got.referredFrom).to.equal('kz-ncb');
    expect(got.envelope.to.authority).to.equal('kz-ncb');
    const referred = await czIpc.events.waitFor(
      (e) => e.type === 'referred' && e.messageId === messageId,
      10_000,
      'referred',
    );
    expect(referred.message).to.include('kz-mia');
    const notice = await czIpc.inbox.waitFor(
      (d) => d.envelope.kind === 'referral-notice',
      10_000,
      'referral notice',
    );
    expect(notice.envelope.body).to.deep.include({
      inReplyTo: messageId,
      referredFrom: 'kz-ncb',
      referredTo: 'kz-mia',
    });
    // The request was delivered (receipted) even though it went elsewhere.
    await czIpc.events.waitFor(
      (e) => e.type === 'delivered' && e.messageId === messageId,
      10_000,
      'delivered',
    );
    expect(kzNcb.inbox.items.some((d) => d.envelope.id === messageId)).to.equal(false);
  });

  it('Art. 9(2), 9(3): carries further-information requests and spontaneous information', async () => {
    const spontaneous = example('spontaneous', 'spont-1');
    const { messageId: sId } = await czIpc.client.submit({
      ...spontaneous,
      from: 'cz-pp-ipc',
    } as SubmissionInput);
    const got = await kzMia.inbox.waitFor((d) => d.envelope.id === sId, 10_000, 'spontaneous');
    expect(got.envelope.kind).to.equal('spontaneous');
    const { messageId: qId } = await kzMia.client.submit({
      ...example('further-info-request', 'fi-1'),
      body: { inReplyTo: sId, questions: ['Which border crossing?'] },
    } as SubmissionInput);
    const q = await czIpc.inbox.waitFor((d) => d.envelope.id === qId, 10_000, 'further-info-request');
    expect(q.envelope.kind).to.equal('further-info-request');
  });

  it('Art. 9(2): the requested authority is alerted when a request is not answered by its reply date', async function () {
    this.timeout(20_000);
    const soon = () => new Date(Date.now() + 1500).toISOString();
    const unanswered = example('request', 'due-1');
    unanswered.body.replyBy = soon();
    const answered = example('request', 'due-2');
    answered.body.replyBy = soon();
    const { messageId: id1 } = await czIpc.client.submit(unanswered as SubmissionInput);
    const { messageId: id2 } = await czIpc.client.submit(answered as SubmissionInput);
    await kzMia.inbox.waitFor((d) => d.envelope.id === id2, 10_000, 'request 2 at KZ');
    const reply = example('reply', 'due-2/reply');
    reply.body.inReplyTo = id2;
    await kzMia.client.submit(reply as SubmissionInput);
    const overdue = await kzMia.events.waitFor(
      (e) => e.type === 'warning' && e.messageId === id1,
      10_000,
      'overdue alert',
    );
    expect(overdue.code).to.equal('obligation.reply_overdue');
    await new Promise((r) => setTimeout(r, 1500));
    expect(kzMia.events.items.some((e) => e.type === 'warning' && e.messageId === id2)).to.equal(false);
  });

  it('Art. 9(1): an oral request must be confirmed in writing in time, or its authority is alerted', async function () {
    this.timeout(20_000);
    const oral = (key: string) => ({
      idempotencyKey: key,
      kind: 'oral-request',
      from: 'cz-pp-ipc',
      body: {
        to: { party: 'KZ', authority: 'kz-mia' },
        madeAt: new Date().toISOString(),
        summary: 'Urgent check of a passport by telephone',
      },
    });
    await czIpc.client.submitRaw(Buffer.from(JSON.stringify(oral('oral-1'))));
    await czIpc.client.submitRaw(Buffer.from(JSON.stringify(oral('oral-2'))));
    const rec1 = await czIpc.events.waitFor((e) => e.idempotencyKey === 'oral-1', 10_000, 'oral 1 recorded');
    const rec2 = await czIpc.events.waitFor((e) => e.idempotencyKey === 'oral-2', 10_000, 'oral 2 recorded');
    expect(rec1).to.include({ type: 'accepted', kind: 'oral-request' });
    const confirming = example('request', 'oral-2/written');
    confirming.body.confirmsOral = rec2.messageId;
    await czIpc.client.submit(confirming as SubmissionInput);
    const overdue = await czIpc.events.waitFor(
      (e) => e.type === 'warning' && e.messageId === rec1.messageId,
      10_000,
      'alert',
    );
    expect(overdue.code).to.equal('obligation.oral_confirmation_overdue');
    await new Promise((r) => setTimeout(r, 1500));
    expect(czIpc.events.items.some((e) => e.type === 'warning' && e.messageId === rec2.messageId)).to.equal(
      false,
    );
  });

  it('refuses a refusal of something this authority never received as policy.not_a_request', async () => {
    const refusal = example('refusal', 'refuse-nothing');
    refusal.body.inReplyTo = randomUUID();
    await kzMia.client.submitRaw(Buffer.from(JSON.stringify(refusal)));
    const ev = await kzMia.events.waitFor((e) => e.idempotencyKey === 'refuse-nothing', 10_000, 'rejection');
    expect(ev).to.include({ type: 'rejected', code: 'policy.not_a_request', path: 'body.inReplyTo' });
  });
});
