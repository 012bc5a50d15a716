/**
 * The personal-data lifecycle between two real gateways — Art. 10(5) destruction deadlines,
 * 10(4) corrections and erasures, 10(3) usage reports, 18 termination — with the records of 10(6).
 * The gateways' clock is the test's: a deadline of a month passes by moving the clock, never by waiting.
 */
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { SubmissionInput } from '../src/client/index.js';
import { names, type Config } from '../src/config.js';
import { Gateway } from '../src/gateway.js';
import { AuditRecordSchema, type AuditRecord } from '../src/audit/log.js';
import {
  REDIS_URL,
  configFileFor,
  drainQueue,
  eventually,
  example,
  memoryLogger,
  publishRaw,
  runCli,
  startPair,
  drainMessages,
  type Pair,
  type TestAuthority,
} from './helpers/harness.js';
import { tempDir } from './helpers/temp.js';

const DAY = 86_400_000;
/** Personal data that must never show up in logs, records, dead letters or Redis (Art. 10(7)). */
const FAMILY = 'Zlatohlavkova-Quernst';
const GIVEN = 'Vendula Ottilie';

function records(config: Config): AuditRecord[] {
  return readFileSync(config.records.auditFile!, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => AuditRecordSchema.parse(JSON.parse(l)));
}

describe('the personal-data lifecycle between two gateways, with the clock driven by the test', function () {
  this.timeout(60_000);
  let pair: Pair;
  let czIpc: TestAuthority;
  let kzMia: TestAuthority;
  let offsetMs = 0;
  const now = () => new Date(Date.now() + offsetMs);
  const later = (days: number) => new Date(now().getTime() + days * DAY).toISOString();
  const kzLog = memoryLogger();

  before(async () => {
    pair = await startPair((raw) => {
      raw.treaty = { notifyingAuthorities: [raw.party === 'KZ' ? 'kz-mia' : 'cz-pp-ipc'] };
      raw.records.checkpointEvery = 3;
      raw.dataProtection = {
        sweepIntervalMs: 100,
        holdRetryS: 1,
        confirmCorrectionHours: 24,
        destruction: {
          defaultDays: 365,
          byCategory: { 'travel-documents': 90 },
          confirmGraceHours: 24,
          notifyProvider: true,
        },
      };
    }, now);
    czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
    kzMia = await pair.authority(pair.kzConfig, 'kz-mia');
  });
  after(async () => {
    await pair.close();
  });

  /** A request from CZ to KZ about one person, with a deadline in `days` or the default. */
  const personRequest = (key: string, days?: number): SubmissionInput => {
    const sub = example('request', key);
    delete sub.body.travelDocuments;
    sub.body.informationTypes = ['criminal-offences'];
    sub.body.replyBy = later(400);
    sub.body.persons = [{ familyName: FAMILY, givenNames: GIVEN, dateOfBirth: '1979-03-02' }];
    if (days !== undefined) sub.handling = { ...sub.handling, destroyBy: later(days) };
    return sub as SubmissionInput;
  };
  const sendRequest = async (key: string, days?: number) => {
    const { messageId } = await czIpc.client.submit(personRequest(key, days));
    await kzMia.inbox.waitFor((d) => d.envelope.id === messageId, 10_000, `request ${key} at KZ`);
    return messageId;
  };

  let byDefault: string;
  let confirmed: string;
  let unconfirmed: string;
  let early: string;

  it('Art. 10(5): the sender sets the configured default deadline when none is given, and says so', async () => {
    byDefault = await sendRequest('dp-default');
    const sent = await czIpc.events.waitFor((e) => e.type === 'sent' && e.messageId === byDefault);
    expect(sent.destroyByDefault).to.equal(true);
    expect(sent.message).to.match(/configured default \(365 days\)/);
    const expected = Date.now() + offsetMs + 365 * DAY;
    expect(Math.abs(Date.parse(sent.destroyBy!) - expected)).to.be.below(60_000);
    // The deadline travels signed and is shown on delivery.
    const got = kzMia.inbox.items.find((d) => d.envelope.id === byDefault)!;
    expect(got.handling.destroyBy).to.equal(sent.destroyBy);

    // A travel-document list gets the shorter default configured for that category.
    const { messageId: docs } = await czIpc.client.submit({
      ...example('travel-document', 'dp-docs'),
      from: 'cz-pp-ipc',
      to: { party: 'KZ', authority: 'kz-mia' },
    } as SubmissionInput);
    const docsSent = await czIpc.events.waitFor((e) => e.type === 'sent' && e.messageId === docs);
    expect(docsSent.message).to.match(/\(90 days\)/);

    // A deadline in the past is refused before anything is sent.
    const past = personRequest('dp-past');
    past.handling = { purposes: ['combating-crime'], conditions: [], destroyBy: later(-1) };
    const { messageId: pastId } = await czIpc.client.submit(past);
    const rejected = await czIpc.events.waitFor(
      (e) => e.type === 'rejected' && e.idempotencyKey === 'dp-past',
    );
    expect(rejected.code).to.equal('policy.destruction_deadline_invalid');
    expect(rejected.path).to.equal('handling.destroyBy');
    expect(kzMia.inbox.items.some((d) => d.envelope.id === pastId)).to.equal(false);
  });

  it('Art. 10(5): at the deadline the authority gets a destroy order; its confirmation is recorded; a missing one raises the alert', async () => {
    confirmed = await sendRequest('dp-30a', 30);
    unconfirmed = await sendRequest('dp-30b', 30);
    early = await sendRequest('dp-early', 30);
    // "destroyed as soon as they cease to be needed": confirmed before the deadline, no order comes.
    await kzMia.client.confirmDestruction(early, 'no-longer-needed');
    await kzMia.events.waitFor((e) => e.type === 'accepted' && e.idempotencyKey === `destroyed/${early}`);
    expect(kzMia.orders.items).to.have.length(0);

    offsetMs += 31 * DAY;
    const order = await kzMia.orders.waitFor((o) => o.messageId === confirmed, 10_000, 'destroy order');
    await kzMia.orders.waitFor((o) => o.messageId === unconfirmed, 10_000, 'second destroy order');
    expect(order).to.include({
      order: 'destroy',
      reason: 'deadline',
      kind: 'request',
      confirmWith: 'destruction-confirmed',
    });
    expect(order.from).to.deep.equal({ party: 'CZ', authority: 'cz-pp-ipc' });
    expect(Date.parse(order.confirmBy) - Date.parse(order.dueAt)).to.be.above(23 * 3600_000);
    expect(kzMia.orders.items.map((o) => o.messageId)).to.not.include.members([early, byDefault]);

    await kzMia.client.confirmDestruction(confirmed, 'deadline');
    const ok = await kzMia.events.waitFor(
      (e) => e.type === 'accepted' && e.idempotencyKey === `destroyed/${confirmed}`,
    );
    expect(ok.message).to.match(/destruction .* \(deadline\) is recorded/);
    // notifyProvider: the provider hears of it in a signed confirmation notice.
    const told = await czIpc.events.waitFor((e) => e.type === 'confirmed' && e.messageId === confirmed);
    expect(told.message).to.match(/destroyed \(deadline\)/);

    // Past the grace: the unconfirmed one raises the alert, the confirmed ones do not.
    offsetMs += 2 * DAY;
    const overdue = await kzMia.events.waitFor(
      (e) => e.type === 'warning' && e.messageId === unconfirmed,
      10_000,
      'overdue warning',
    );
    expect(overdue.code).to.equal('obligation.destruction_overdue');
    expect(
      pair.lines.some((l) => l.includes('"alert":"alert.destruction_overdue"') && l.includes(unconfirmed)),
    ).to.equal(true);
    await new Promise((r) => setTimeout(r, 500));
    const warned = kzMia.events.items.filter((e) => e.type === 'warning').map((e) => e.messageId);
    expect(warned).to.not.include(confirmed);
    expect(warned).to.not.include(early);

    // The same confirmation again is a duplicate; a message never received is refused.
    await kzMia.client.confirmDestruction(confirmed, 'deadline');
    await kzMia.events.waitFor(
      (e) => e.type === 'duplicate' && e.idempotencyKey === `destroyed/${confirmed}`,
    );
    await kzMia.client.confirmDestruction(byDefault.replace(/^./, 'f'), 'deadline');
    const refused = await kzMia.events.waitFor(
      (e) => e.type === 'rejected' && e.code === 'policy.not_received',
    );
    expect(refused.path).to.equal('body.messageId');

    // Art. 10(6): both sides hold the record, with the reason and the scope but not the data.
    const kzDestroyed = records(pair.kzConfig).filter((r) => r.type === 'destruction');
    expect(kzDestroyed.map((r) => [r.messageId, r.reason])).to.deep.include.members([
      [confirmed, 'Art. 10(5) deadline'],
      [early, 'Art. 10(5) no-longer-needed'],
    ]);
    const kzReceipt = records(pair.kzConfig).find((r) => r.type === 'receipt' && r.messageId === confirmed)!;
    expect(kzReceipt).to.include({
      kind: 'request',
      subjectCount: 1,
      fromAuthority: 'CZ/cz-pp-ipc',
      toAuthority: 'KZ/kz-mia',
    });
    expect(kzReceipt.purposes).to.deep.equal(['combating-crime']);
    expect(kzReceipt.destroyBy).to.be.a('string');
    const czProvision = records(pair.czConfig).find(
      (r) => r.type === 'provision' && r.messageId === confirmed,
    )!;
    expect(czProvision.categories).to.include('criminal-offences');
    expect(records(pair.czConfig).some((r) => r.type === 'destruction' && r.refersTo === confirmed)).to.equal(
      true,
    );
  });

  let original: string;
  let correction: string;

  it('Art. 10(4): a correction that arrives before its original is held, delivered after it, and confirmed', async () => {
    const kzIngress = names(pair.kzConfig.namespace).ingress;
    await pair.kz.stop();
    const { messageId: o } = await czIpc.client.submit({
      ...example('person-search', 'dp-orig'),
      from: 'cz-pp-ipc',
      to: { party: 'KZ', authority: 'kz-mia' },
      body: { ...example('person-search', 'x').body, person: { familyName: FAMILY, givenNames: GIVEN } },
    } as SubmissionInput);
    original = o;
    await czIpc.events.waitFor((e) => e.type === 'sent' && e.messageId === original);
    const fix = example('correction', 'dp-fix');
    fix.body.refersTo = original;
    fix.body.persons = [{ familyName: FAMILY, givenNames: GIVEN, dateOfBirth: '1979-03-20' }];
    fix.handling.destroyBy = later(60);
    const { messageId: c } = await czIpc.client.submit(fix as SubmissionInput);
    correction = c;
    await czIpc.events.waitFor((e) => e.type === 'sent' && e.messageId === correction);
    // Both wait at KZ's ingress; the correction is put back first, the original kept aside. A heartbeat
    // CZ sent meanwhile (every 30 s, with an expiration) may wait there too: it is left out.
    const waiting = (await drainMessages(kzIngress)).filter((m) => m.properties.expiration === undefined);
    const [first, second, ...rest] = waiting.map((m) => m.content);
    expect(rest).to.have.length(0);
    await publishRaw(kzIngress, second!);
    pair.kz = await Gateway.start(pair.kzConfig, kzLog.log, now);

    const held = await czIpc.events.waitFor((e) => e.type === 'held' && e.messageId === correction);
    expect(held.message).to.match(/Art\. 10\(4\)/);
    await new Promise((r) => setTimeout(r, 2500)); // two rounds through the held queue
    expect(kzMia.inbox.items.some((d) => d.envelope.id === correction)).to.equal(false);

    await publishRaw(kzIngress, first!);
    await kzMia.inbox.waitFor(
      (d) => d.envelope.id === correction,
      10_000,
      'the correction after its original',
    );
    const order = kzMia.inbox.items
      .map((d) => d.envelope.id)
      .filter((id) => id === original || id === correction);
    expect(order).to.deep.equal([original, correction]);

    await kzMia.client.confirmCorrection(correction);
    const told = await czIpc.events.waitFor((e) => e.type === 'confirmed' && e.messageId === correction);
    expect(told.message).to.match(/corrected/);
    expect(told.kind).to.equal('correction');
    expect(records(pair.czConfig).some((r) => r.type === 'correction' && r.refersTo === correction)).to.equal(
      true,
    );

    // A correction of something this authority never sent to the addressee is refused.
    const stray = example('correction', 'dp-stray');
    stray.body.refersTo = confirmed.replace(/^./, 'e');
    await czIpc.client.submit(stray as SubmissionInput);
    const refused = await czIpc.events.waitFor(
      (e) => e.type === 'rejected' && e.idempotencyKey === 'dp-stray',
    );
    expect(refused).to.include({ code: 'policy.not_provided', path: 'body.refersTo' });
  });

  it('Art. 10(4): an erasure is delivered, and the destruction it orders is confirmed to the provider', async () => {
    const erase = example('erasure', 'dp-erase');
    erase.body.refersTo = original;
    const { messageId: e } = await czIpc.client.submit(erase as SubmissionInput);
    await kzMia.inbox.waitFor((d) => d.envelope.id === e, 10_000, 'erasure at KZ');
    await kzMia.client.confirmDestruction(original, 'erasure');
    const told = await czIpc.events.waitFor((ev) => ev.type === 'confirmed' && ev.messageId === original);
    expect(told.message).to.match(/destroyed \(erasure\)/);
    expect(told.kind).to.equal('person-search');
    const rec = records(pair.kzConfig).find((r) => r.type === 'destruction' && r.messageId === original)!;
    expect(rec).to.include({ reason: 'Art. 10(5) erasure', refersTo: e });
  });

  it('Art. 10(3): a usage-report request is tracked until answered, with an alert when overdue', async () => {
    const ask = example('usage-report-request', 'dp-usage');
    ask.body.references = [confirmed];
    ask.body.answerBy = later(2);
    const { messageId: askId } = await czIpc.client.submit(ask as SubmissionInput);
    await kzMia.inbox.waitFor((d) => d.envelope.id === askId, 10_000, 'usage-report-request at KZ');
    offsetMs += 3 * DAY;
    const overdue = await kzMia.events.waitFor((e) => e.type === 'warning' && e.messageId === askId);
    expect(overdue.code).to.equal('obligation.usage_report_overdue');

    const report = await kzMia.client.submit(
      'usage-report',
      { inReplyTo: askId, use: 'Checked against the national register; no match.' },
      { to: { party: 'CZ', authority: 'cz-pp-ipc' }, idempotencyKey: 'dp-usage/report' },
    );
    expect(report.outcome).to.equal('accepted');
    await czIpc.inbox.waitFor((d) => d.envelope.id === report.messageId, 10_000, 'usage report at CZ');
    const wrong = await kzMia.client.submit(
      'usage-report',
      { inReplyTo: confirmed, use: 'n/a' },
      { to: { party: 'CZ', authority: 'cz-pp-ipc' }, idempotencyKey: 'dp-usage/wrong' },
    );
    expect(wrong).to.include({
      outcome: 'rejected',
      code: 'policy.not_a_usage_request',
      path: 'body.inReplyTo',
    });
  });

  it('Art. 18: six months after the termination notice was received, all personal data received are ordered destroyed', async () => {
    const notice = await czIpc.client.submit(
      'termination-notice',
      { diplomaticNote: 'Note verbale 77/2027' },
      { to: { party: 'KZ', authority: 'kz-mia' }, idempotencyKey: 'dp-terminate' },
    );
    expect(notice.outcome).to.equal('accepted');
    await kzMia.inbox.waitFor((d) => d.envelope.id === notice.messageId, 10_000, 'termination notice at KZ');
    await czIpc.events.waitFor((e) => e.type === 'delivered' && e.messageId === notice.messageId);
    const status = await runCli(['treaty', 'status', '--config', configFileFor(pair.czConfig)]);
    expect(status.stdout).to.match(/Art\. 18: terminated by CZ .*Note verbale 77\/2027.*ends/);

    // Art. 18(2) counts from the receipt of the diplomatic note: KZ's operator sets that day, seven
    // months back — the end moves into the past and KZ's destroy orders go out without moving the clock.
    const kzFile = configFileFor(pair.kzConfig);
    const moved = await runCli(['treaty', 'termination-received', '--config', kzFile, '--at', later(-212)]);
    expect(moved.code, moved.stderr).to.equal(0);
    expect(moved.stdout).to.match(/Art\. 18: the agreement ends \S+, six months after the note was received/);
    // Still held at KZ: the default-deadline request (365 days) and the 30-day one never confirmed.
    await kzMia.orders.waitFor(
      (o) => o.messageId === byDefault && o.reason === 'termination',
      10_000,
      'termination order',
    );
    const termination = kzMia.orders.items.filter((o) => o.reason === 'termination').map((o) => o.messageId);
    expect(termination).to.include(unconfirmed);
    expect(termination).to.not.include.members([confirmed, early, original]);
    const record = await eventually(
      () =>
        Promise.resolve(
          readFileSync(pair.kzConfig.records.auditFile!, 'utf8')
            .split('\n')
            .find((l) => l.includes('"type":"termination"') && l.includes('diplomatic channels')),
        ),
      10_000,
      'the record of the corrected date',
    );
    expect(record).to.contain(notice.messageId);

    // CZ's end is still six months after KZ's gateway took the notice in.
    offsetMs += 184 * DAY;

    const after = await czIpc.client.submit('request', personRequest('x').body as never, {
      to: { party: 'KZ', authority: 'kz-mia' },
      idempotencyKey: 'dp-after-end',
    });
    expect(after).to.include({ outcome: 'rejected', code: 'treaty.terminated' });
  });

  it("accord trace: a message's timeline on both sides, from the records and the state", async () => {
    const kz = await runCli(['trace', confirmed, '--config', configFileFor(pair.kzConfig)]);
    expect(kz.code, kz.stderr).to.equal(0);
    expect(kz.stdout).to.contain(`message ${confirmed}`);
    expect(kz.stdout).to.match(/received from CZ\/cz-pp-ipc for kz-mia, request/);
    expect(kz.stdout).to.match(/personal data destroyed \(deadline\)/);
    expect(kz.stdout).to.match(/record #\d+ receipt: request; CZ\/cz-pp-ipc → KZ\/kz-mia; 1 data subject/);
    expect(kz.stdout).to.match(/record #\d+ destruction: .*Art\. 10\(5\) deadline; by kz-mia/);
    expect(kz.stdout).not.to.contain(FAMILY);
    const cz = await runCli(['trace', confirmed, '--config', configFileFor(pair.czConfig)]);
    expect(cz.stdout).to.match(/sealed .*\n.*published to the peer/);
    expect(cz.stdout).to.contain('signed receipt from the peer');
    const unknown = await runCli([
      'trace',
      confirmed.replace(/^./, 'd'),
      '--config',
      configFileFor(pair.czConfig),
    ]);
    expect(unknown.code).to.equal(1);
    expect(unknown.stdout).to.contain('knows nothing of it');
  });

  it('Art. 10(6): both logs verify, each holds an anchor of the other, and `audit verify` finds each tampering', async () => {
    await pair.cz.stop();
    await pair.kz.stop();
    const czFile = configFileFor(pair.czConfig);
    const kzFile = configFileFor(pair.kzConfig);
    const cz = await runCli(['audit', 'verify', '--config', czFile]);
    expect(cz.code, cz.stdout + cz.stderr).to.equal(0);
    expect(cz.stdout).to.match(/^ok .* records, [1-9]\d* signed checkpoints verified/);
    // CZ holds KZ's checkpoint hashes from KZ's receipts; KZ's log still has them.
    const anchors = records(pair.czConfig)
      .filter((r) => r.type === 'peer-anchor')
      .map((r) => r.anchor!);
    expect(anchors.length).to.be.above(0);
    const kz = await runCli(['audit', 'verify', '--config', kzFile, '--anchor', anchors.at(-1)!]);
    expect(kz.code, kz.stdout + kz.stderr).to.equal(0);
    const bogus = await runCli(['audit', 'verify', '--config', kzFile, '--anchor', 'f'.repeat(64)]);
    expect(bogus.code).to.equal(1);

    const lines = readFileSync(pair.czConfig.records.auditFile!, 'utf8').split('\n').filter(Boolean);
    const tamper = async (what: string, edited: string[], trailing = '\n') => {
      const copy = join(tempDir('tamper'), 'audit.jsonl');
      writeFileSync(copy, edited.join('\n') + trailing);
      const r = await runCli(['audit', 'verify', '--config', czFile, '--file', copy]);
      expect(r.code, what).to.equal(1);
      return r.stdout;
    };
    const modified = [...lines];
    modified[4] = modified[4]!
      .replace(/"subjectCount":1/, '"subjectCount":2')
      .replace(/"kind":"[a-z-]+"/, '"kind":"reply"');
    expect(await tamper('modified', modified)).to.match(/record 4: hash mismatch/);
    expect(await tamper('deleted', [...lines.slice(0, 5), ...lines.slice(6)])).to.match(
      /record 5: .*deleted or reordered/,
    );
    expect(
      await tamper('reordered', [...lines.slice(0, 5), lines[6]!, lines[5]!, ...lines.slice(7)]),
    ).to.match(/record 5:/);
    const cut = [...lines];
    cut[cut.length - 1] = cut.at(-1)!.slice(0, 40);
    expect(await tamper('truncated', cut, '')).to.match(/truncated record/);

    const exported = await runCli([
      'audit',
      'export',
      '--config',
      czFile,
      '--from',
      '2000-01-01',
      '--to',
      '2100-01-01',
      '--format',
      'csv',
    ]);
    expect(exported.code).to.equal(0);
    expect(exported.stdout.split('\n')[0]).to.match(
      /^seq,time,type,messageId,kind,purposes,categories,subjectCount/,
    );
    expect(exported.stderr).to.match(/exported \d+ records/);
  });

  it('Art. 10(7): no personal data in logs, records, dead letters or Redis (BullMQ jobs included)', async () => {
    const haystacks: [string, string][] = [
      ['logs', pair.lines.join('\n') + kzLog.lines.join('\n')],
      ['CZ audit', readFileSync(pair.czConfig.records.auditFile!, 'utf8')],
      ['KZ audit', readFileSync(pair.kzConfig.records.auditFile!, 'utf8')],
    ];
    for (const c of [pair.czConfig, pair.kzConfig]) {
      const letters = await drainQueue(names(c.namespace).dlq);
      haystacks.push([`${c.party} dead letters`, letters.map((b) => b.toString('utf8')).join('\n')]);
    }
    const redis = new Redis(REDIS_URL);
    try {
      let dump = '';
      let keys = 0;
      const read: Record<string, (key: string) => Promise<unknown>> = {
        string: (k) => redis.get(k),
        hash: (k) => redis.hgetall(k),
        list: (k) => redis.lrange(k, 0, -1),
        set: (k) => redis.smembers(k),
        zset: (k) => redis.zrange(k, 0, -1),
        stream: (k) => redis.xrange(k, '-', '+'),
      };
      for (const c of [pair.czConfig, pair.kzConfig]) {
        const match = `${names(c.namespace).redisPrefix}*`;
        for await (const batch of redis.scanStream({ match, count: 500 })) {
          for (const key of batch as string[]) {
            keys++;
            const value = await read[await redis.type(key)]?.(key);
            dump += `${key} ${typeof value === 'string' ? value : JSON.stringify(value ?? '')}\n`;
          }
        }
      }
      expect(keys, 'Redis keys scanned').to.be.above(20);
      expect(dump).to.match(/bull/); // the BullMQ jobs were among them
      haystacks.push(['Redis', dump]);
    } finally {
      redis.disconnect();
    }
    for (const [where, text] of haystacks) {
      for (const secret of [FAMILY, GIVEN, '1979-03-20', 'Aigerim']) {
        expect(text.includes(secret), `${secret} found in ${where}`).to.equal(false);
      }
    }
  });
});
