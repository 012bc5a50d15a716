import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import type { SubmissionInput } from '../src/client/index.js';
import { names } from '../src/config.js';
import { suspendedBy, type SuspensionEntry } from '../src/policy/suspension.js';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  ROOT,
  example,
  publishRaw,
  sealAsCz,
  startPair,
  suspensionNotice,
  testEnvelope,
  type Pair,
  type TestAuthority,
} from './helpers/harness.js';
import { tempDir } from './helpers/temp.js';

const DAY = 86_400_000;

describe('policy/suspension (Art. 17): effective fifteen days after the notice was delivered', () => {
  const at = (d: number) => new Date(Date.UTC(2027, 0, 1) + d * DAY);
  const entry = (over: Partial<SuspensionEntry>): SuspensionEntry => ({
    id: randomUUID(),
    party: 'KZ',
    action: 'suspend',
    scope: 'all',
    effectiveAt: at(15).toISOString(),
    ...over,
  });

  it('suspends only from the effective date, and only the scope named', () => {
    const drugs = entry({ scope: { crimeCategories: ['drug-trafficking'] } });
    expect(suspendedBy([drugs], ['drug-trafficking'], at(14))).to.equal(undefined);
    expect(suspendedBy([drugs], ['drug-trafficking'], at(15))?.id).to.equal(drugs.id);
    expect(suspendedBy([drugs], ['forgery'], at(20))).to.equal(undefined);
    expect(suspendedBy([drugs], ['forgery', 'drug-trafficking'], at(20))?.id).to.equal(drugs.id);
  });

  it('lets the latest effective notice decide, so a resumption lifts a suspension', () => {
    const all = entry({});
    const resumed = entry({ action: 'resume', effectiveAt: at(40).toISOString() });
    expect(suspendedBy([all, resumed], ['corruption'], at(39))?.id).to.equal(all.id);
    expect(suspendedBy([all, resumed], ['corruption'], at(40))).to.equal(undefined);
    // A notice still waiting for the peer's receipt suspends nothing.
    expect(suspendedBy([entry({ effectiveAt: undefined })], ['corruption'], at(100))).to.equal(undefined);
  });
});

describe('Art. 17 between two gateways, with the clock driven by the test', () => {
  let pair: Pair;
  let czIpc: TestAuthority;
  let kzMia: TestAuthority;
  let offsetMs = 0;
  const now = () => new Date(Date.now() + offsetMs);
  before(async () => {
    pair = await startPair((raw) => {
      raw.treaty = { notifyingAuthorities: [raw.party === 'KZ' ? 'kz-mia' : 'cz-pp-ipc'] };
    }, now);
    czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
    kzMia = await pair.authority(pair.kzConfig, 'kz-mia');
  });
  after(async () => {
    await pair.close();
  });

  const drugRequest = (key: string) => {
    const sub = example('request', key);
    sub.body.crimeCategories = ['drug-trafficking'];
    return sub as SubmissionInput;
  };
  it('only a notifying authority may notify a suspension', async () => {
    await pair
      .authority(pair.kzConfig, 'kz-ncb')
      .then((ncb) => ncb.client.submit(suspensionNotice('susp-bad', 'suspend', 'kz-ncb')));
    const ncb = pair.clients.at(-1)!;
    const ev = await ncb.events.waitFor((e) => e.idempotencyKey === 'susp-bad', 10_000, 'rejection');
    expect(ev).to.include({ type: 'rejected', code: 'treaty.not_notifying_authority', path: 'from' });
  });

  it('suspends requests in scope on both sides fifteen days after the notice was delivered, and lets the rest flow', async function () {
    this.timeout(30_000);
    const { messageId: noticeId } = await kzMia.client.submit(suspensionNotice('susp-1', 'suspend'));
    await czIpc.inbox.waitFor((d) => d.envelope.id === noticeId, 10_000, 'the notice at CZ');
    await kzMia.events.waitFor(
      (e) => e.type === 'delivered' && e.messageId === noticeId,
      10_000,
      'the receipt at KZ',
    );

    // Day 14: not yet in force.
    offsetMs = 14 * DAY;
    const early = await czIpc.client.submit(drugRequest('susp-day14'));
    await kzMia.inbox.waitFor((d) => d.envelope.id === early.messageId, 10_000, 'a request on day 14');

    // Day 16: CZ's own gateway refuses to send a request in scope; others still go.
    offsetMs = 16 * DAY;
    await czIpc.client.submitRaw(Buffer.from(JSON.stringify(drugRequest('susp-day16'))));
    const blocked = await czIpc.events.waitFor((e) => e.idempotencyKey === 'susp-day16', 10_000, 'rejection');
    expect(blocked).to.include({ type: 'rejected', code: 'treaty.suspended', path: 'body.crimeCategories' });
    const other = await czIpc.client.submit(example('request', 'susp-other') as SubmissionInput);
    await kzMia.inbox.waitFor((d) => d.envelope.id === other.messageId, 10_000, 'a request out of scope');
    const reply = example('reply', 'susp-reply');
    reply.from = 'kz-mia';
    reply.body.inReplyTo = early.messageId;
    const { messageId: replyId } = await kzMia.client.submit(reply as SubmissionInput);
    await czIpc.inbox.waitFor((d) => d.envelope.id === replyId, 10_000, 'a reply still flows');

    // KZ refuses one that reaches it anyway (a CZ gateway that did not know), with a signed notice.
    const env = testEnvelope(
      {
        kind: 'request',
        body: {
          crimeCategories: ['drug-trafficking'],
          informationTypes: ['criminal-offences'],
          assistanceTypes: [],
          summary: 'late request',
        },
      },
      now().getTime(),
    );
    await publishRaw(names(pair.kzConfig.namespace).ingress, await sealAsCz(pair.czConfig, env));
    const refusal = await czIpc.inbox.waitFor(
      (d) =>
        d.envelope.kind === 'refusal-notice' &&
        (d.envelope.body as { inReplyTo: string }).inReplyTo === env.id,
      10_000,
      'the refusal of a request in a suspended scope',
    );
    expect(refusal.envelope.body).to.deep.include({ decidedBy: { kind: 'rule', ref: 'art-17-suspension' } });
    expect(kzMia.inbox.items.some((d) => d.envelope.id === env.id)).to.equal(false);

    // The revocation, likewise effective fifteen days after delivery.
    const { messageId: resumeId } = await kzMia.client.submit(suspensionNotice('susp-resume', 'resume'));
    await kzMia.events.waitFor(
      (e) => e.type === 'delivered' && e.messageId === resumeId,
      10_000,
      'the resume receipt',
    );
    offsetMs = 32 * DAY;
    const again = await czIpc.client.submit(drugRequest('susp-day32'));
    await kzMia.inbox.waitFor(
      (d) => d.envelope.id === again.messageId,
      10_000,
      'a request after the revocation',
    );

    // `accord treaty status` shows both notices to an administrator (on the real clock: not yet in force).
    const raw = JSON.parse(readFileSync(join(ROOT, 'config', 'cz.json'), 'utf8')) as Record<string, any>;
    raw.namespace = pair.czConfig.namespace;
    raw.keys.privateJwks = pair.czConfig.keys.privateJwks;
    raw.peer.publicJwks = pair.czConfig.peer.publicJwks;
    const file = join(tempDir('treaty'), 'cz.json');
    writeFileSync(file, JSON.stringify(raw));
    const cli = join(ROOT, 'dist', 'src', 'cli', 'main.js');
    const { stdout } = await promisify(execFile)('node', [cli, 'treaty', 'status', '--config', file]);
    expect(stdout).to.match(
      new RegExp(`${noticeId}\\s+KZ suspend\\s+scope drug-trafficking\\s+takes effect`),
    );
    expect(stdout).to.match(new RegExp(`${resumeId}\\s+KZ resume`));
  });
});
