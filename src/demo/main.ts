/**
 * `npm run demo`: starts a CZ and a KZ gateway against the local RabbitMQ and Redis (one broker, two
 * namespaces), plays a short treaty scenario through case-system clients, prints what happened and
 * exits 0. Exits 2, saying how to start them, when RabbitMQ or Redis cannot be reached.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CaseSystemClient, type InboxDelivery, type StatusEvent } from '../client/index.js';
import { ROOT, demoConfigs, reachable, removeQueues } from './setup.js';
import { names, type Config } from '../config.js';
import { AccordError, exitCodeOf } from '../errors.js';
import { Gateway } from '../gateway.js';
import { auditFileOf } from '../audit/log.js';
import { describeRedis } from '../store/redis-connect.js';
import { connectBroker } from '../transport/connect.js';
import { verifyAuditFile } from '../audit/log.js';
import { createLogger, redactUrl } from '../log.js';
import type { SubmissionInput } from '../domain/submission.js';

const TIMEOUT_MS = 15_000;

function example(kind: string): SubmissionInput {
  return JSON.parse(
    readFileSync(join(ROOT, 'examples', 'messages', `${kind}.json`), 'utf8'),
  ) as SubmissionInput;
}

/** Queues and events of one demo authority, with waiting. */
class Desk {
  readonly inbox: InboxDelivery[] = [];
  readonly events: StatusEvent[] = [];
  private wake: (() => void) | undefined;
  constructor(readonly client: CaseSystemClient) {}

  static async open(config: Config, authority: string): Promise<Desk> {
    const client = await CaseSystemClient.connect({
      url: config.amqp.url,
      ...(config.amqp.tls ? { tls: config.amqp.tls } : {}),
      party: config.party,
      authority,
      ...(config.namespace ? { namespace: config.namespace } : {}),
    });
    const desk = new Desk(client);
    await client.onInbox((d) => desk.add(desk.inbox, d));
    await client.onEvent((e) => desk.add(desk.events, e));
    return desk;
  }

  private add<T>(list: T[], item: T) {
    list.push(item);
    this.wake?.();
  }

  async until<T>(find: () => T | undefined, what: string): Promise<T> {
    const deadline = Date.now() + TIMEOUT_MS;
    for (;;) {
      const hit = find();
      if (hit !== undefined) return hit;
      if (Date.now() > deadline) throw new Error(`timed out after ${TIMEOUT_MS} ms waiting for ${what}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 100);
        this.wake = () => {
          clearTimeout(t);
          r();
        };
      });
    }
  }

  /** The first event of a type, for the idempotency key (or any, when the key is empty). */
  event(type: StatusEvent['type'], key: string) {
    return this.until(
      () => this.events.find((e) => e.type === type && (key === '' || e.idempotencyKey === key)),
      `${type} ${key}`,
    );
  }
}

const out = (s = '') => process.stdout.write(`${s}\n`);
const ms = (t0: number, at: string) => `+${Date.parse(at) - t0} ms`;

async function main(): Promise<number> {
  const { cz, kz } = demoConfigs();
  const problem = await reachable(cz);
  if (problem) {
    process.stderr.write(`accord demo: ${problem}\n`);
    return exitCodeOf('infra.unavailable');
  }
  await removeQueues([cz, kz]);
  const log = createLogger({ level: process.env.ACCORD_LOG_LEVEL ?? 'error' }, process.stderr);
  const gwCz = await Gateway.start(cz, log.child({ gw: 'CZ' }));
  const gwKz = await Gateway.start(kz, log.child({ gw: 'KZ' }));
  const czIpc = await Desk.open(cz, 'cz-pp-ipc');
  const kzMia = await Desk.open(kz, 'kz-mia');
  const kzNcb = await Desk.open(kz, 'kz-ncb');
  let failed = false;
  try {
    out(`Accord demo: gateways CZ (namespace ${cz.namespace}) and KZ (namespace ${kz.namespace})`);
    out(`  broker ${redactUrl(cz.amqp.url)}, ${describeRedis(cz.redis)}; test-only keys from certs-example/`);
    out();

    // 1. An Art. 6 request from CZ to KZ.
    const request = example('request');
    const key = `demo/${Date.now()}/request`;
    request.idempotencyKey = key;
    const t0 = Date.now();
    const { messageId } = await czIpc.client.submit(request);
    out(
      `1. CZ cz-pp-ipc -> KZ kz-mia: request (Art. 6 travel document N12345678; forgery, illegal-migration)`,
    );
    out(`   message ${messageId}`);
    const sent = await czIpc.event('sent', key);
    out(
      `   CZ gateway: accepted, signed (ES256), encrypted (ECDH-ES+A256KW, A256GCM); peer broker confirmed ${ms(t0, sent.at)}`,
    );
    const got = await kzMia.until(
      () => kzMia.inbox.find((d) => d.envelope.id === messageId),
      'the request at KZ',
    );
    const v = got.verification;
    out(
      `   KZ gateway: decrypted with ${v.encryptionKid}, verified ${v.signatureAlg} signature of ${v.signatureKid}`,
    );
    out(
      `   KZ kz-mia received it ${ms(t0, v.receivedAt)}; purposes: ${got.envelope.handling.purposes.join(', ')}`,
    );
    const delivered = await czIpc.event('delivered', key);
    out(`   CZ cz-pp-ipc: signed receipt from KZ, status delivered ${ms(t0, delivered.at)}`);
    out();

    // 2. KZ answers with a reply.
    const reply = example('reply');
    const replyKey = `demo/${Date.now()}/reply`;
    reply.idempotencyKey = replyKey;
    if (reply.kind === 'reply') reply.body.inReplyTo = messageId;
    const t1 = Date.now();
    const { messageId: replyId } = await kzMia.client.submit(reply);
    out(`2. KZ kz-mia -> CZ cz-pp-ipc: reply to ${messageId}`);
    out(`   message ${replyId}`);
    const back = await czIpc.until(
      () => czIpc.inbox.find((d) => d.envelope.id === replyId),
      'the reply at CZ',
    );
    const body = back.envelope.kind === 'reply' ? back.envelope.body : undefined;
    const doc = body?.travelDocuments?.[0];
    out(`   CZ cz-pp-ipc received it ${ms(t1, back.verification.receivedAt)}: "${body?.summary ?? ''}"`);
    if (doc) out(`   document ${doc.number} (${doc.type}, ${doc.issuingState ?? '?'}): ${doc.status}`);
    const replyDelivered = await kzMia.event('delivered', replyKey);
    out(`   KZ kz-mia: signed receipt from CZ, status delivered ${ms(t1, replyDelivered.at)}`);
    out();

    // 3. A submission to an authority KZ never notified (Art. 13) is rejected at once.
    const bad = example('request');
    const badKey = `demo/${Date.now()}/unlisted`;
    bad.idempotencyKey = badKey;
    bad.to = { party: 'KZ', authority: 'kz-customs' };
    await czIpc.client.submit(bad);
    const rejected = await czIpc.event('rejected', badKey);
    out(`3. CZ cz-pp-ipc -> KZ kz-customs (not in KZ's directory, Art. 13): rejected before sealing`);
    out(`   event rejected: ${rejected.code} at ${rejected.path}; nothing left CZ`);
    out();

    // 4. Art. 9(4)/(5): a request KZ's rules refuse; the signed notice comes back at once.
    const special = example('request');
    special.idempotencyKey = `demo/${Date.now()}/special`;
    special.to = { party: 'KZ', authority: 'kz-ncb' };
    if (special.kind === 'request') {
      special.body.assistanceTypes = ['special-techniques'];
      special.body.summary = 'Controlled delivery of forged passports through Almaty airport';
    }
    const t4 = Date.now();
    const { messageId: specialId } = await czIpc.client.submit(special);
    out(`4. CZ cz-pp-ipc -> KZ kz-ncb: request for a controlled delivery (Art. 4(4))`);
    const refused = await czIpc.until(
      () => czIpc.events.find((e) => e.type === 'refused' && e.messageId === specialId),
      'the refused event',
    );
    const notice = await czIpc.until(
      () => czIpc.inbox.find((d) => d.envelope.id === refused.refusal?.noticeId),
      'the refusal notice',
    );
    const nb = notice.envelope.kind === 'refusal-notice' ? notice.envelope.body : undefined;
    out(`   KZ refused it by rule "${nb?.decidedBy.ref ?? '?'}" (Art. 9(4)); nothing reached kz-ncb`);
    out(
      `   CZ cz-pp-ipc got the signed refusal notice ${ms(t4, notice.verification.receivedAt)} (Art. 9(5)):`,
    );
    out(`   ${nb?.scope} refusal of ${specialId}, grounds: ${nb?.grounds.join(', ')}`);
    out(`   "${nb?.explanation ?? ''}"`);
    out();

    // 5. Art. 10(2): sensitive data only with a necessity statement; the flags travel signed.
    const search = example('person-search');
    if (search.kind === 'person-search') search.body.person.nationality = ['KZ'];
    search.idempotencyKey = `demo/${Date.now()}/sensitive-bare`;
    await kzNcb.client.submit(search);
    const bare = await kzNcb.event('rejected', search.idempotencyKey);
    out(`5. KZ kz-ncb -> CZ cz-pp-ipc: person search (Art. 7) naming the person's nationality (Art. 10(2))`);
    out(`   without a necessity statement: rejected, ${bare.code} at ${bare.path}; nothing left KZ`);
    search.idempotencyKey = `demo/${Date.now()}/sensitive`;
    search.handling = {
      purposes: ['combating-crime'],
      conditions: [],
      necessity: [
        { category: 'nationality', statement: 'A missing minor: consular notification is required.' },
      ],
    };
    const { messageId: searchId } = await kzNcb.client.submit(search);
    const flagged = await czIpc.until(
      () => czIpc.inbox.find((d) => d.envelope.id === searchId),
      'the person search at CZ',
    );
    out(
      `   with one: delivered to cz-pp-ipc (urgent) flagged sensitive: ${flagged.handling.sensitive?.join(', ')}`,
    );
    out(`   necessity: "${flagged.handling.necessity?.[0]?.statement ?? ''}"`);
    out();

    // 6. Art. 11(2): information KZ provided may not go on to Interpol without KZ's written consent.
    const exportKey = `demo/${Date.now()}/export`;
    await czIpc.client.exportTo({
      idempotencyKey: exportKey,
      from: 'cz-pp-ipc',
      kind: 'export',
      body: {
        destination: 'interpol',
        summary: 'Stolen blank Kazakh passport presented at Prague airport',
        travelDocuments: [
          { number: 'N12345678', type: 'passport', status: 'stolen-blank', issuingState: 'KZ' },
        ],
      },
    });
    const blocked = await czIpc.event('rejected', exportKey);
    out(
      `6. CZ cz-pp-ipc -> Interpol (a third party, Art. 11(2)): export of the passport KZ reported in reply 2`,
    );
    out(
      `   blocked: ${blocked.code} at ${blocked.path} — the number was received from KZ, and KZ has not consented`,
    );
    out(
      `   nothing reached ${names(cz.namespace).exportQueue('interpol')}; a consent-request to KZ would open the gate`,
    );
    out();

    // 7. Art. 10(5), 10(6): the reply carried personal data (a document number) with KZ's deadline;
    // CZ no longer needs it, destroys it and confirms; both gateways keep the record.
    const destroyKey = `destroyed/${replyId}`;
    await czIpc.client.confirmDestruction(replyId, 'no-longer-needed');
    const destroyed = await czIpc.event('accepted', destroyKey);
    out(
      `7. CZ cz-pp-ipc destroys the reply's personal data before KZ's deadline (${back.handling.destroyBy ?? '?'}), Art. 10(5)`,
    );
    out(`   CZ gateway: ${destroyed.message ?? ''}`);
    await gwCz.stop();
    await gwKz.stop();
    for (const [party, config] of [
      ['CZ', cz],
      ['KZ', kz],
    ] as const) {
      const file = auditFileOf(config);
      const chain = await verifyAuditFile(file);
      const kinds = readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l.includes(replyId)).length;
      out(
        `   ${party} records (Art. 10(6)): ${chain.ok ? 'chain intact' : `BROKEN at ${chain.badSeq}`}, ${chain.records} records, ${kinds} about the reply (${file.slice(ROOT.length + 1)})`,
      );
      if (!chain.ok) failed = true;
    }
    out();

    const dead = (
      await Promise.all([names(cz.namespace).dlq, names(kz.namespace).dlq].map(countQueue))
    ).reduce((a, b) => a + b);
    out(
      `Summary: 3 messages delivered with signed receipts, 1 refused with a signed notice, 2 rejected before sealing, 1 export blocked, 1 destruction recorded, ${dead} dead letters.`,
    );
    if (dead !== 0) failed = true;
  } catch (err) {
    process.stderr.write(`accord demo failed: ${(err as Error).message}\n`);
    failed = true;
  } finally {
    await czIpc.client.close();
    await kzMia.client.close();
    await kzNcb.client.close();
    await gwCz.stop();
    await gwKz.stop();
    await removeQueues([cz, kz]);
  }
  return failed ? 1 : 0;
}

async function countQueue(queue: string): Promise<number> {
  const conn = await connectBroker(demoConfigs().cz.amqp, { name: 'accord-demo-count' });
  try {
    const ch = await conn.createChannel();
    return (await ch.checkQueue(queue)).messageCount;
  } finally {
    await conn.close();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(
      `accord demo: ${err instanceof AccordError ? `${err.code}: ` : ''}${(err as Error).message}\n`,
    );
    process.exitCode = err instanceof AccordError ? exitCodeOf(err.code) : 1;
  },
);
