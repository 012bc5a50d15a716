/**
 * Art. 9(4), 9(5) between two real gateways: plug-in refusal hooks, manual review in
 * accord.review.<authority>, and the reviewer's decisions — accept, accept-with-conditions,
 * refuse-partial, refuse — each reaching the requester as the agreement says.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import type { SubmissionInput } from '../src/client/index.js';
import {
  Collector,
  ROOT,
  configFileFor,
  example,
  runCli,
  startPair,
  type Pair,
  type TestAuthority,
} from './helpers/harness.js';
import type { InboxDelivery } from '../src/client/index.js';
import { Gateway } from '../src/gateway.js';
import { pino } from 'pino';
import { pairConfigs, uniqueStem } from './helpers/harness.js';
import { expectCode } from './helpers/expect-code.js';

const hook = (name: string) => join(ROOT, 'test', 'fixtures', 'hooks', `${name}.mjs`);

/** A request from CZ's IPC to KZ's MIA about the given crime categories, with a summary to steer hooks. */
function request(key: string, crimeCategories: string[], summary = 'Document check'): SubmissionInput {
  const sub = example('request', key);
  sub.body.crimeCategories = crimeCategories;
  sub.body.summary = summary;
  return sub as SubmissionInput;
}

describe('Art. 9(4) refusal hooks and manual review, between two gateways', function () {
  this.timeout(60_000);
  let pair: Pair;
  let czIpc: TestAuthority;
  let kzMia: TestAuthority;
  const review = new Collector<InboxDelivery>();

  before(async () => {
    pair = await startPair((raw) => {
      if (raw.party !== 'KZ') return;
      raw.policy = {
        ...raw.policy,
        refusalRules: [
          ...(raw.policy?.refusalRules ?? []),
          {
            id: 'drugs-to-a-person',
            when: { crimeCategories: ['drug-trafficking'] },
            decision: 'review',
            explanation: 'Drug cases are checked against the national operation register first.',
          },
        ],
        hooks: [
          { id: 'by-category', module: hook('by-category') },
          { id: 'throws', module: hook('throws') },
          { id: 'hangs', module: hook('hangs'), timeoutMs: 300 },
          { id: 'invalid', module: hook('invalid') },
          { id: 'mutates', module: hook('mutates') },
        ],
      };
    });
    czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
    kzMia = await pair.authority(pair.kzConfig, 'kz-mia');
    await kzMia.client.onReview((held) => review.push(held));
  });
  after(async () => {
    await pair.close();
  });

  it('accepts what every hook accepts: delivered as usual', async () => {
    const { messageId } = await czIpc.client.submit(request('hook-ok', ['forgery']));
    const got = await kzMia.inbox.waitFor((d) => d.envelope.id === messageId, 10_000, 'delivery');
    expect(got.review).to.equal(undefined);
    await czIpc.events.waitFor(
      (e) => e.type === 'delivered' && e.messageId === messageId,
      10_000,
      'delivered',
    );
  });

  it('a hook refuses: the requester gets the signed notice naming the hook; nothing is delivered', async () => {
    const { messageId } = await czIpc.client.submit(request('hook-refuse', ['terrorism-extremism']));
    const refused = await czIpc.events.waitFor(
      (e) => e.type === 'refused' && e.messageId === messageId,
      10_000,
      'refused',
    );
    expect(refused.refusal).to.deep.include({
      scope: 'full',
      grounds: ['security'],
      decidedBy: { kind: 'hook', ref: 'by-category' },
    });
    expect(refused.message).to.match(/^Art\. 9\(4\) \(hook by-category\): Requests on terrorism/);
    const notice = await czIpc.inbox.waitFor(
      (d) => d.envelope.id === refused.refusal!.noticeId,
      10_000,
      'notice',
    );
    if (notice.envelope.kind !== 'refusal-notice') throw new Error('not a refusal notice');
    expect(notice.envelope.body.decidedBy).to.deep.equal({ kind: 'hook', ref: 'by-category' });
    expect(kzMia.inbox.items.some((d) => d.envelope.id === messageId)).to.equal(false);
    expect(review.items.some((d) => d.envelope.id === messageId)).to.equal(false);
  });

  for (const [what, summary, failed] of [
    ['throws', 'THROW Novak Jan 1980-01-01', 'hook throws failed (TypeError)'],
    ['times out', 'HANG', 'hook hangs gave no answer within 300 ms'],
    ['answers an invalid verdict', 'MAYBE', 'hook invalid answered an invalid verdict'],
    ['tries to change the request', 'MUTATE', 'hook mutates failed (TypeError)'],
  ] as const) {
    it(`a hook that ${what} sends the request to manual review, never to acceptance`, async () => {
      const { messageId } = await czIpc.client.submit(
        request(`hook-${what.replace(/ /g, '-')}`, ['forgery'], summary),
      );
      const held = await review.waitFor((d) => d.envelope.id === messageId, 10_000, 'held for review');
      expect(held.review?.reasons).to.deep.equal([{ by: `hook ${failed.split(' ')[1]}`, why: failed }]);
      expect(held.envelope.kind === 'request' && held.envelope.body.summary).to.equal(summary);
      await czIpc.events.waitFor(
        (e) => e.type === 'in-review' && e.messageId === messageId,
        10_000,
        'in-review',
      );
      expect(kzMia.inbox.items.some((d) => d.envelope.id === messageId)).to.equal(false);
      expect(czIpc.events.items.some((e) => e.type === 'delivered' && e.messageId === messageId)).to.equal(
        false,
      );
      // The hook's error text quoted the request; the log keeps only the hook and the error's class.
      expect(pair.lines.join('\n')).not.to.contain('Novak');
    });
  }

  it('a reviewing rule holds the request, and "accept" delivers it to the reviewer’s inbox', async () => {
    const { messageId } = await czIpc.client.submit(request('rule-review', ['drug-trafficking']));
    const held = await review.waitFor((d) => d.envelope.id === messageId, 10_000, 'held');
    // Art. 10(5): held for a person, the request is in nobody's hands yet — no ledger entry, no deadline.
    const trace = () => runCli(['trace', messageId, '--config', configFileFor(pair.kzConfig)]);
    expect((await trace()).stdout).not.to.contain('taken in for');
    expect(held.review?.reasons).to.deep.equal([
      {
        by: 'rule drugs-to-a-person',
        why: 'Drug cases are checked against the national operation register first.',
      },
    ]);
    expect(held.review?.decisions).to.deep.equal([
      'accept',
      'accept-with-conditions',
      'refuse-partial',
      'refuse',
    ]);
    const { decisionId } = await kzMia.client.decide({
      idempotencyKey: 'decide-accept',
      from: 'kz-mia',
      kind: 'decision',
      body: { inReplyTo: messageId, decision: 'accept' },
    });
    const got = await kzMia.inbox.waitFor(
      (d) => d.envelope.id === messageId,
      10_000,
      'delivered after review',
    );
    expect(got.decision).to.deep.equal({ decision: 'accept', decisionId, decidedBy: 'kz-mia' });
    expect(got.verification.signatureKid).to.match(/^cz-sig-/);
    // Delivered by the decision: now held by kz-mia, with the provider's destruction deadline.
    const after = await trace();
    expect(after.stdout).to.contain('taken in for kz-mia');
    expect(after.stdout).to.match(/personal data: destroy by \d{4}-/);
    expect(after.stdout).to.match(/record #\d+ decision: request; .*Art\. 9\(4\) accept; by person kz-mia/);
    await kzMia.events.waitFor(
      (e) => e.type === 'accepted' && e.messageId === decisionId,
      10_000,
      'decision done',
    );
  });

  it('"accept-with-conditions": delivered, and the requester gets signed conditions that bind it', async () => {
    const { messageId } = await czIpc.client.submit(request('cond', ['human-trafficking']));
    const held = await review.waitFor((d) => d.envelope.id === messageId, 10_000, 'held');
    expect(held.review?.reasons[0]?.by).to.equal('hook by-category');
    const conditions = ['Use only in criminal case 2026/77', 'Do not pass to other authorities'];
    await kzMia.client.decide({
      idempotencyKey: 'decide-cond',
      from: 'kz-mia',
      kind: 'decision',
      body: { inReplyTo: messageId, decision: 'accept-with-conditions', conditions },
    });
    const got = await kzMia.inbox.waitFor((d) => d.envelope.id === messageId, 10_000, 'delivered');
    expect(got.decision?.conditions).to.deep.equal(conditions);
    const ev = await czIpc.events.waitFor(
      (e) => e.type === 'accepted-with-conditions' && e.messageId === messageId,
      10_000,
      'accepted-with-conditions event',
    );
    expect(ev.message).to.contain('2 condition');
    const notice = await czIpc.inbox.waitFor(
      (d) => d.envelope.kind === 'acceptance-notice',
      10_000,
      'notice',
    );
    if (notice.envelope.kind !== 'acceptance-notice') throw new Error('not an acceptance notice');
    expect(notice.envelope.body).to.deep.equal({
      inReplyTo: messageId,
      conditions,
      decidedBy: { kind: 'person', ref: 'kz-mia' },
    });
    // Shown on delivery with the handling, and signed: the conditions are in the verified envelope.
    expect(notice.handling.conditions).to.deep.equal(conditions);
    expect(notice.verification.signatureKid).to.match(/^kz-sig-/);
  });

  it('"refuse-partial": delivered with the refused parts, and the requester gets a partial refusal notice', async () => {
    const { messageId } = await czIpc.client.submit(request('partial', ['drug-trafficking']));
    await review.waitFor((d) => d.envelope.id === messageId, 10_000, 'held');
    await kzMia.client.decide({
      idempotencyKey: 'decide-partial',
      from: 'kz-mia',
      kind: 'decision',
      body: {
        inReplyTo: messageId,
        decision: 'refuse-partial',
        parts: ['the surveillance records'],
        grounds: ['national-legislation'],
        explanation: 'Surveillance records need a court order here.',
      },
    });
    const got = await kzMia.inbox.waitFor((d) => d.envelope.id === messageId, 10_000, 'delivered');
    expect(got.decision?.refusedParts).to.deep.equal(['the surveillance records']);
    const refused = await czIpc.events.waitFor(
      (e) => e.type === 'refused' && e.messageId === messageId,
      10_000,
      'refused',
    );
    expect(refused.refusal).to.deep.include({ scope: 'partial', grounds: ['national-legislation'] });
    const notice = await czIpc.inbox.waitFor(
      (d) => d.envelope.id === refused.refusal!.noticeId,
      10_000,
      'notice',
    );
    if (notice.envelope.kind !== 'refusal-notice') throw new Error('not a refusal notice');
    expect(notice.envelope.body).to.deep.include({ parts: ['the surveillance records'] });
    expect(notice.envelope.body.decidedBy).to.deep.equal({ kind: 'person', ref: 'kz-mia' });
  });

  it('"refuse": nothing delivered, a full refusal notice; a second decision and a stranger’s decision are rejected', async () => {
    const { messageId } = await czIpc.client.submit(request('refuse', ['drug-trafficking']));
    await review.waitFor((d) => d.envelope.id === messageId, 10_000, 'held');
    const kzNcb = await pair.authority(pair.kzConfig, 'kz-ncb');
    await kzNcb.client.decide({
      idempotencyKey: 'stranger',
      from: 'kz-ncb',
      kind: 'decision',
      body: { inReplyTo: messageId, decision: 'accept' },
    });
    const stranger = await kzNcb.events.waitFor((e) => e.idempotencyKey === 'stranger', 10_000, 'stranger');
    expect(stranger).to.include({ type: 'rejected', code: 'auth.not_reviewer', path: 'from' });

    await kzMia.client.decide({
      idempotencyKey: 'decide-refuse',
      from: 'kz-mia',
      kind: 'decision',
      body: {
        inReplyTo: messageId,
        decision: 'refuse',
        grounds: ['important-interests'],
        explanation: 'Refused after review.',
      },
    });
    const refused = await czIpc.events.waitFor(
      (e) => e.type === 'refused' && e.messageId === messageId,
      10_000,
      'refused',
    );
    expect(refused.refusal?.scope).to.equal('full');
    await kzMia.events.waitFor(
      (e) => e.idempotencyKey === 'decide-refuse' && e.type === 'accepted',
      10_000,
      'done',
    );

    // The same decision again is a duplicate; another decision is refused; nothing reaches the inbox.
    await kzMia.client.decide({
      idempotencyKey: 'decide-refuse',
      from: 'kz-mia',
      kind: 'decision',
      body: {
        inReplyTo: messageId,
        decision: 'refuse',
        grounds: ['important-interests'],
        explanation: 'Again.',
      },
    });
    await kzMia.events.waitFor(
      (e) => e.idempotencyKey === 'decide-refuse' && e.type === 'duplicate',
      10_000,
      'dup',
    );
    await kzMia.client.decide({
      idempotencyKey: 'decide-late',
      from: 'kz-mia',
      kind: 'decision',
      body: { inReplyTo: messageId, decision: 'accept' },
    });
    const late = await kzMia.events.waitFor((e) => e.idempotencyKey === 'decide-late', 10_000, 'late');
    expect(late).to.include({ type: 'rejected', code: 'policy.review_decided' });
    expect(kzMia.inbox.items.some((d) => d.envelope.id === messageId)).to.equal(false);
  });

  it('rejects a decision on a request that is not held', async () => {
    await kzMia.client.decide({
      idempotencyKey: 'decide-nothing',
      from: 'kz-mia',
      kind: 'decision',
      body: { inReplyTo: '00000000-0000-4000-8000-000000000000', decision: 'accept' },
    });
    const ev = await kzMia.events.waitFor((e) => e.idempotencyKey === 'decide-nothing', 10_000, 'rejection');
    expect(ev).to.include({ type: 'rejected', code: 'policy.review_unknown', path: 'body.inReplyTo' });
  });
});

describe('Art. 9(4) hooks in the config', () => {
  it('a hook module without a hook function stops the gateway from starting', async () => {
    const { kz } = pairConfigs(uniqueStem(), (raw) => {
      if (raw.party === 'KZ')
        raw.policy = { ...raw.policy, hooks: [{ id: 'bad', module: hook('no-function') }] };
    });
    await expectCode(async () => {
      const gw = await Gateway.start(kz, pino({ level: 'silent' }));
      await gw.stop();
    }, 'config.invalid');
  });
});
