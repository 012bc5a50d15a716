/**
 * Art. 10(7), 11(1): least privilege on the real broker. `accord broker setup` writes the
 * definitions; imported into a vhost of the test's own, they let each authority reach only its own
 * queues, and the gateway accepts a submission only from the authority whose broker user sent it.
 */
import { expect } from 'chai';
import { execFile, spawn } from 'node:child_process';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import { pino } from 'pino';
import { CaseSystemClient, isDestroyOrder } from '../src/client/index.js';
import { names, type Config } from '../src/config.js';
import { Gateway } from '../src/gateway.js';
import { rabbitPasswordHash } from '../src/cli/broker.js';
import {
  Collector,
  ROOT,
  example,
  pairConfigs,
  runCli,
  uniqueStem,
  type TestAuthority,
} from './helpers/harness.js';
import type { DestroyOrder, InboxDelivery, StatusEvent, SubmissionInput } from '../src/client/index.js';
import { tempDir } from './helpers/temp.js';

const run = promisify(execFile);
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');

/** Run rabbitmqctl with `input` on stdin; rejects with its stderr when it fails. */
function rabbitmqctl(args: string[], input?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('rabbitmqctl', args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`rabbitmqctl ${args.join(' ')}: ${stderr}`)),
    );
    child.stdin.end(input ?? Buffer.alloc(0));
  });
}

/** The AMQP error code a promise fails with (403 ACCESS_REFUSED, 406 PRECONDITION_FAILED, …). */
async function amqpCode(p: Promise<unknown>): Promise<number | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return (err as { code?: number }).code;
  }
}

describe('least privilege on the broker', function () {
  this.timeout(120_000);
  const stem = uniqueStem();
  const vhost = stem;
  const dir = tempDir('broker');
  chmodSync(dir, 0o755);
  const users = {
    cz: { gw: `${stem}-cz-gw`, peer: `${stem}-cz-peer`, ipc: `${stem}-cz-ipc`, ndh: `${stem}-cz-ndh` },
    kz: { gw: `${stem}-kz-gw`, peer: `${stem}-kz-peer`, mia: `${stem}-kz-mia`, ncb: `${stem}-kz-ncb` },
  };
  const password = new Map<string, string>();
  const url = (user: string) =>
    `amqp://${user}:${encodeURIComponent(password.get(user)!)}@127.0.0.1:5672/${encodeURIComponent(vhost)}`;
  let cz: Config;
  let kz: Config;
  const gateways: Gateway[] = [];
  const clients: CaseSystemClient[] = [];

  before(async () => {
    // The configs as an operator would write them: the access section, and the vhost in amqp.url.
    const access = (raw: Record<string, any>) => {
      const u = raw.party === 'CZ' ? users.cz : users.kz;
      raw.access = {
        gatewayUser: u.gw,
        peerUser: u.peer,
        submitters:
          raw.party === 'CZ'
            ? [
                { authority: 'cz-pp-ipc', brokerUser: users.cz.ipc },
                { authority: 'cz-ndh', brokerUser: users.cz.ndh },
              ]
            : [
                { authority: 'kz-mia', brokerUser: users.kz.mia },
                { authority: 'kz-ncb', brokerUser: users.kz.ncb },
              ],
      };
    };
    ({ cz, kz } = pairConfigs(stem, access));
    for (const [party, config] of [
      ['cz', cz],
      ['kz', kz],
    ] as const) {
      const file = join(dir, `${party}.json`);
      writeFileSync(file, JSON.stringify(config));
      const out = join(dir, `${party}.definitions.json`);
      const secrets = join(dir, `${party}.secrets`);
      await run('node', [
        CLI,
        'broker',
        'setup',
        '--config',
        file,
        '--out',
        out,
        '--secrets',
        secrets,
        '--vhost',
        vhost,
      ]);
      expect(statSync(secrets).mode & 0o777).to.equal(0o600);
      expect(readFileSync(out, 'utf8')).not.to.contain(readFileSync(secrets, 'utf8').split(' ')[1]!.trim());
      for (const line of readFileSync(secrets, 'utf8').trim().split('\n')) {
        const [user, pw] = line.split(' ');
        password.set(user!, pw!);
      }
      // rabbitmqctl runs as the rabbitmq user: it reads the definitions (hashes only) from this folder.
      await rabbitmqctl(['-q', 'import_definitions', out]);
    }
    // Each gateway with its own user on its broker, and the user the peer issued it on the peer's.
    const withUsers = (c: Config, own: string, peerUser: string): Config => ({
      ...c,
      amqp: { ...c.amqp, url: url(own) },
      peer: { ...c.peer, amqpUrl: url(peerUser) },
    });
    cz = withUsers(cz, users.cz.gw, users.kz.peer);
    kz = withUsers(kz, users.kz.gw, users.cz.peer);
    gateways.push(await Gateway.start(kz, pino({ level: 'silent' })));
    gateways.push(await Gateway.start(cz, pino({ level: 'silent' })));
  });

  after(async () => {
    for (const c of clients) await c.close();
    for (const g of gateways) await g.stop();
    await rabbitmqctl(['-q', 'delete_vhost', vhost]).catch(() => undefined);
    for (const u of [...Object.values(users.cz), ...Object.values(users.kz)]) {
      await rabbitmqctl(['-q', 'delete_user', u]).catch(() => undefined);
    }
  });

  const desks = new Map<string, TestAuthority>();
  /** One case system per authority (a second would compete for the same events). */
  async function desk(config: Config, authority: string, user: string): Promise<TestAuthority> {
    const known = desks.get(authority);
    if (known) return known;
    const client = await CaseSystemClient.connect({
      url: url(user),
      party: config.party,
      authority,
      ...(config.namespace ? { namespace: config.namespace } : {}),
    });
    clients.push(client);
    const inbox = new Collector<InboxDelivery>();
    const orders = new Collector<DestroyOrder>();
    const events = new Collector<StatusEvent>();
    await client.onInbox((d) => (isDestroyOrder(d) ? orders.push(d) : inbox.push(d)));
    await client.onEvent((e) => events.push(e));
    desks.set(authority, { client, inbox, orders, events });
    return { client, inbox, orders, events };
  }

  it('hashes passwords as RabbitMQ does (salted SHA-256)', () => {
    const salt = Buffer.from('908dc60a', 'hex');
    // RabbitMQ's documented example: password "test12" with this salt.
    expect(rabbitPasswordHash('test12', salt)).to.equal('kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR');
  });

  it('with the generated users, a message goes from CZ’s case system to KZ’s and the receipt comes back', async () => {
    const ipc = await desk(cz, 'cz-pp-ipc', users.cz.ipc);
    const mia = await desk(kz, 'kz-mia', users.kz.mia);
    const { messageId } = await ipc.client.submit(example('request', 'lp-1') as SubmissionInput);
    await mia.inbox.waitFor((d) => d.envelope.id === messageId, 20_000, 'delivery');
    await ipc.events.waitFor((e) => e.type === 'delivered' && e.messageId === messageId, 20_000, 'receipt');
  });

  it('authority A cannot consume B’s inbox, nor publish to any queue directly: the broker refuses (403)', async () => {
    const conn = await amqp.connect(url(users.cz.ipc));
    try {
      const n = names(cz.namespace);
      const ch = await conn.createChannel();
      ch.on('error', () => undefined);
      expect(await amqpCode(ch.consume(n.inbox('cz-ndh'), () => undefined))).to.equal(403);
      const ch2 = await conn.createChannel();
      ch2.on('error', () => undefined);
      expect(await amqpCode(ch2.consume(n.dlq, () => undefined))).to.equal(403);
      // The default exchange routes to every queue: A may not write to it at all.
      const pub = await conn.createConfirmChannel();
      pub.on('error', () => undefined);
      const sent = new Promise<void>((resolve, reject) =>
        pub.sendToQueue(n.inbox('cz-ndh'), Buffer.from('{}'), {}, (err) =>
          err ? reject(err as Error) : resolve(),
        ),
      );
      const closed = new Promise<number | undefined>((resolve) =>
        pub.once('error', (err: { code?: number }) => resolve(err.code)),
      );
      sent.catch(() => undefined);
      expect(await closed).to.equal(403);
      // Its own inbox it may read.
      const own = await conn.createChannel();
      await own.consume(n.inbox('cz-pp-ipc'), () => undefined);
    } finally {
      await conn.close().catch(() => undefined);
    }
  });

  it('A cannot submit as B: refused as auth.sender_mismatch, and A is told', async () => {
    const ipc = await desk(cz, 'cz-pp-ipc', users.cz.ipc);
    const sub = example('request', 'lp-as-ndh');
    sub.from = 'cz-ndh';
    await ipc.client.submitRaw(Buffer.from(JSON.stringify(sub)));
    const ev = await ipc.events.waitFor((e) => e.idempotencyKey === 'lp-as-ndh', 20_000, 'rejection');
    expect(ev).to.include({ type: 'rejected', code: 'auth.sender_mismatch', path: 'from' });
  });

  it('a submission without user_id is refused (auth.user_id_missing), and a forged user_id never reaches the gateway', async () => {
    const n = names(cz.namespace);
    const conn = await amqp.connect(url(users.cz.ipc));
    try {
      const ch = await conn.createConfirmChannel();
      const content = Buffer.from(JSON.stringify(example('request', 'lp-no-user')));
      await new Promise<void>((resolve, reject) =>
        ch.publish(n.submitExchange, n.outbox, content, { persistent: true }, (err) =>
          err ? reject(err as Error) : resolve(),
        ),
      );
      const forged = await conn.createConfirmChannel();
      const closed = new Promise<number | undefined>((resolve) =>
        forged.once('error', (err: { code?: number }) => resolve(err.code)),
      );
      forged.publish(
        n.submitExchange,
        n.outbox,
        content,
        { persistent: true, userId: users.cz.ndh },
        () => undefined,
      );
      expect(await closed, 'the broker checks user_id against the connection').to.equal(406);
    } finally {
      await conn.close().catch(() => undefined);
    }
    // No authenticated sender to tell: the admins see it in the dead-letter queue.
    const admin = await amqp.connect(url(users.cz.gw));
    try {
      const ch = await admin.createChannel();
      let letter: Record<string, unknown> | undefined;
      for (let i = 0; i < 200 && !letter; i++) {
        const m = await ch.get(n.dlq, { noAck: true });
        if (m) letter = JSON.parse(m.content.toString('utf8')) as Record<string, unknown>;
        else await new Promise((r) => setTimeout(r, 50));
      }
      expect(letter).to.include({ code: 'auth.user_id_missing', path: 'user_id', source: 'outbox' });
    } finally {
      await admin.close();
    }
  });

  it('the accord command works as these users: send and treaty suspend as the authority, dlq list as the gateway', async () => {
    await desk(kz, 'kz-mia', users.kz.mia); // its case system runs, and keeps its events
    // The operator's config names the gateway's own user; --secrets (the file broker setup wrote)
    // or the URL (here from the environment) gives the authority's.
    const asGateway = join(dir, 'kz-cli.json');
    writeFileSync(asGateway, JSON.stringify(kz));
    const fromEnv = join(dir, 'kz-cli-env.json');
    writeFileSync(fromEnv, JSON.stringify({ ...kz, amqp: { ...kz.amqp, url: '${KZ_MIA_BROKER_URL}' } }));
    const sub = example('person-search', `${stem}/cli`);
    sub.from = 'kz-mia';
    const msg = join(dir, 'search.json');
    writeFileSync(msg, JSON.stringify(sub));

    const sent = await runCli([
      'send',
      '--config',
      asGateway,
      '--file',
      msg,
      '--secrets',
      join(dir, 'kz.secrets'),
    ]);
    expect(sent.code, sent.stderr).to.equal(0);
    expect(sent.stdout).to.match(/^accepted: person-search /m);

    const suspend = await runCli(
      [
        'treaty',
        'suspend',
        '--config',
        fromEnv,
        '--from',
        'kz-mia',
        '--scope',
        'corruption',
        '--reason',
        'review',
      ],
      { KZ_MIA_BROKER_URL: url(users.kz.mia) },
    );
    expect(suspend.code, suspend.stderr).to.equal(0);
    expect(suspend.stdout).to.match(/^accepted: suspension-notice /m);

    const listed = await runCli(['dlq', 'list', '--config', asGateway]);
    expect(listed.code, listed.stderr).to.equal(0);
    expect(listed.stdout).to.match(/letter\(s\)|is empty/);

    // As the gateway's user, the gateway would not believe the submission: the CLI says so first.
    const wrong = await runCli(['send', '--config', asGateway, '--file', msg]);
    expect(wrong.code).to.equal(2);
    expect(wrong.stderr).to.match(/^config\.invalid: .*--secrets/m);
  });
});
