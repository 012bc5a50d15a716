/**
 * docs/reliability.md ("Receiving side") and docs/cluster.md: the delivered-log is a barrier for the
 * whole party, not for one process. A copy that comes back and finds its own pending claim is
 * delivered only once every line committed before it came back has been applied, whichever replica
 * holds that line; lines left in the queue of older versions are applied after an upgrade.
 */
import { expect } from 'chai';
import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import { Redis } from 'ioredis';
import type { SubmissionInput } from '../src/client/index.js';
import { names, type Config } from '../src/config.js';
import { Gateway } from '../src/gateway.js';
import { queueArgs, queueArgsFor } from '../src/topology.js';
import { COPY_HEADER } from '../src/pipeline/outbound.js';
import { RedisMessageState, RedisProbeMarks } from '../src/store/redis-state.js';
import { AmqpConnection } from '../src/transport/amqp.js';
import { DeliveredLogBarrier, PROBE_HEADER } from '../src/transport/delivered-log.js';
import { TcpProxy } from '../scripts/chaos/tcp-proxy.js';
import {
  AMQP_URL,
  REDIS_URL,
  authority,
  configFileFor,
  eventually,
  example,
  memoryLogger,
  pairConfigs,
  removeNamespace,
  runCli,
  uniqueStem,
  type TestAuthority,
} from './helpers/harness.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function publishTo(
  queue: string,
  content: string,
  headers: Record<string, string> = {},
): Promise<void> {
  const conn = await amqp.connect(AMQP_URL);
  try {
    const ch = await conn.createConfirmChannel();
    ch.publish('', queue, Buffer.from(content), { persistent: true, headers });
    await ch.waitForConfirms();
  } finally {
    await conn.close();
  }
}

/** A claim as a receiver leaves it when it crashed (or lost its broker) around the commit. */
async function pendingClaim(redis: Redis, prefix: string, messageId: string, copy: string): Promise<void> {
  await redis.hset(`${prefix}seen:${messageId}`, 'state', 'pending', 'copy', copy);
  await redis.expire(`${prefix}seen:${messageId}`, 600);
}

/**
 * The delivered-log consumer of a replica that took lines and has not applied them yet (slow, or
 * about to die): a consumer that holds every delivery unacked. The first consumer of the queue, so
 * the broker makes it the single active one; `die()` closes its channel, as a crash would.
 */
class StalledReplica {
  readonly held: ConsumeMessage[] = [];
  private constructor(
    private readonly conn: ChannelModel,
    private readonly ch: Channel,
  ) {}

  static async attach(config: Config): Promise<StalledReplica> {
    const queue = names(config.namespace).deliveredLog;
    const conn = await amqp.connect(AMQP_URL);
    const ch = await conn.createChannel();
    await ch.assertQueue(queue, { durable: true, arguments: queueArgsFor(config, queue) });
    const replica = new StalledReplica(conn, ch);
    await ch.consume(queue, (m) => {
      if (m) replica.held.push(m);
    });
    return replica;
  }

  lines(): string[] {
    return this.held.map((m) => m.content.toString('utf8'));
  }

  probes(): number {
    return this.held.filter((m) => m.properties.headers?.[PROBE_HEADER] !== undefined).length;
  }

  async die(): Promise<void> {
    await this.ch.close().catch(() => undefined);
    await this.conn.close().catch(() => undefined);
  }
}

describe('delivered-log: a barrier for every replica of a party (docs/cluster.md)', () => {
  for (const queueType of ['classic', 'quorum'] as const) {
    describe(`on ${queueType} queues`, () => {
      let cz: Config;
      let kz: Config;
      let redis: Redis;
      const gateways: Gateway[] = [];
      const clients: TestAuthority[] = [];
      let stalled: StalledReplica | undefined;

      beforeEach(() => {
        ({ cz, kz } = pairConfigs(uniqueStem(), (raw) => {
          raw.amqp.queueType = queueType;
        }));
        redis = new Redis(REDIS_URL);
      });

      afterEach(async () => {
        await stalled?.die();
        for (const c of clients.splice(0)) await c.client.close();
        for (const g of gateways.splice(0)) await g.stop();
        redis.disconnect();
        await removeNamespace(cz);
        await removeNamespace(kz);
      });

      it('does not deliver a copy that comes back while another replica holds its line unapplied; the copy gets the stored receipt once the line is applied', async function () {
        this.timeout(60_000);
        const kzNames = names(kz.namespace);
        const kzPrefix = kzNames.redisPrefix;
        // Another KZ replica's delivered-log consumer, active first: it takes every line and sits on it.
        stalled = await StalledReplica.attach(kz);
        const { log, lines } = memoryLogger();
        gateways.push(await Gateway.start(cz, log.child({ gw: 'CZ' })));
        gateways.push(await Gateway.start(kz, log.child({ gw: 'KZ' })));
        const ipc = await authority(cz, 'cz-pp-ipc');
        const mia = await authority(kz, 'kz-mia');
        clients.push(ipc, mia);

        const { messageId } = await ipc.client.submit(example('request', 'barrier-1') as SubmissionInput);
        await ipc.events.waitFor((e) => e.type === 'delivered' && e.messageId === messageId, 20_000);
        await eventually(
          () => Promise.resolve(stalled!.lines().includes(messageId) ? true : undefined),
          10_000,
          'the line',
        );
        const jwe = (
          JSON.parse((await redis.hget(`${names(cz.namespace).redisPrefix}sent:${messageId}`, 'rec'))!) as {
            jwe: string;
          }
        ).jwe;

        // The broker applied the commit (inbox delivery, line, ack) and died before answering; the ack
        // did not survive, so copy C1 comes back and finds its own claim still pending. Its line is
        // committed, but unacked at the stalled replica: the queue's ready count is 0.
        await pendingClaim(redis, kzPrefix, messageId, 'C1');
        await publishTo(kzNames.ingress, jwe, { [COPY_HEADER]: 'C1' });
        await sleep(3500);
        expect(
          mia.inbox.items.filter((d) => d.envelope.id === messageId),
          'deliveries',
        ).to.have.length(1);
        expect(await redis.hget(`${kzPrefix}seen:${messageId}`, 'state')).to.equal('pending');
        expect(stalled.probes(), 'probes behind the line').to.be.above(0);

        // The stalled replica dies: the broker returns its lines to the next consumer, ahead of the probe.
        await stalled.die();
        stalled = undefined;
        await eventually(
          async () =>
            (await redis.hget(`${kzPrefix}seen:${messageId}`, 'state')) === 'delivered' ? true : undefined,
          10_000,
          'the claim marked delivered',
        );
        const answered = () =>
          lines.filter((l) => l.includes(messageId) && l.includes('duplicate; receipt sent again')).length;
        await eventually(
          () => Promise.resolve(answered() > 0 ? true : undefined),
          10_000,
          'the stored receipt sent',
        );
        await sleep(1500);
        expect(answered(), 'receipts sent again').to.equal(1);
        expect(
          mia.inbox.items.filter((d) => d.envelope.id === messageId),
          'deliveries',
        ).to.have.length(1);
      });
    });
  }

  describe('the barrier alone', () => {
    const stem = uniqueStem();
    const n = names(`${stem}-kz`);
    let conn: AmqpConnection;
    let redis: Redis;
    let barrier: DeliveredLogBarrier | undefined;
    const proxies: TcpProxy[] = [];
    const extra: Redis[] = [];

    beforeEach(async () => {
      conn = await AmqpConnection.open({
        broker: { url: AMQP_URL },
        name: `${stem}-test`,
        heartbeatS: 30,
        confirmTimeoutMs: 5000,
      });
      await conn.assertQueues([n.deliveredLog], { 'x-single-active-consumer': true });
      redis = new Redis(REDIS_URL);
    });

    afterEach(async () => {
      barrier?.stop();
      barrier = undefined;
      await conn.close();
      for (const r of extra.splice(0)) r.disconnect();
      for (const p of proxies.splice(0)) await p.close();
      const c = await amqp.connect(AMQP_URL);
      const ch = await c.createChannel();
      await ch.deleteQueue(n.deliveredLog);
      await c.close();
      for await (const keys of redis.scanStream({ match: `${n.redisPrefix}*`, count: 500 })) {
        if ((keys as string[]).length > 0) await redis.del(...(keys as string[]));
      }
      redis.disconnect();
    });

    function start(stateRedis: Redis = redis): Promise<void> {
      barrier = new DeliveredLogBarrier({
        queue: n.deliveredLog,
        legacyQueue: n.legacyDeliveredLog,
        broker: conn,
        state: new RedisMessageState(stateRedis, n.redisPrefix),
        marks: new RedisProbeMarks(redis, n.redisPrefix, 60),
        log: memoryLogger().log,
      });
      return barrier.start(() => undefined);
    }

    const settled = (waiter: string) =>
      eventually(
        async () => ((await barrier!.isSettled(waiter)) ? true : undefined),
        10_000,
        `${waiter} settled`,
      );

    it('settles on an empty log once its probe has been applied; a later waiter needs a probe of its own', async () => {
      await start();
      expect(await barrier!.isSettled('m1'), 'before any probe').to.equal(false);
      await settled('m1');
      expect(await barrier!.isSettled('m2'), 'a waiter after the probe').to.equal(false);
      await settled('m2');
      expect(await conn.messageCount(n.deliveredLog), 'probes left in the log').to.equal(0);
    });

    it('applies a probe only after every line before it: a line that fails holds the probe back until it is applied', async function () {
      this.timeout(30_000);
      // The consumer reaches the claims through a link the test cuts; the probe marks go directly.
      const proxy = await new TcpProxy('127.0.0.1', Number(new URL(REDIS_URL).port || 6379)).start();
      proxies.push(proxy);
      const viaProxy = new Redis(proxy.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
      viaProxy.on('error', () => undefined);
      extra.push(viaProxy);
      await start(viaProxy);
      await pendingClaim(redis, n.redisPrefix, 'm1', 'C1');
      proxy.cut();
      await publishTo(n.deliveredLog, 'm1');
      expect(await barrier!.isSettled('m1')).to.equal(false);
      await sleep(3000);
      expect(await barrier!.isSettled('m1'), 'while the line before the probe fails').to.equal(false);
      expect(await redis.hget(`${n.redisPrefix}seen:m1`, 'state')).to.equal('pending');
      proxy.restore();
      await settled('m1');
      expect(await redis.hget(`${n.redisPrefix}seen:m1`, 'state')).to.equal('delivered');
    });
  });

  describe('migration from the delivered-log without a single active consumer', () => {
    let kz: Config;
    let redis: Redis;
    let gateway: Gateway | undefined;

    beforeEach(() => {
      ({ kz } = pairConfigs(uniqueStem()));
      redis = new Redis(REDIS_URL);
    });

    afterEach(async () => {
      await gateway?.stop();
      gateway = undefined;
      redis.disconnect();
      await removeNamespace(kz);
    });

    it('applies the lines left in the retired queue at start and while it exists, and leaves the queue to the operator', async function () {
      this.timeout(40_000);
      const n = names(kz.namespace);
      // As the version before declared it: the gateway's usual queue arguments, nothing else.
      const c = await amqp.connect(AMQP_URL);
      const ch = await c.createChannel();
      await ch.assertQueue(n.legacyDeliveredLog, { durable: true, arguments: queueArgs(kz) });
      await c.close();
      await pendingClaim(redis, n.redisPrefix, 'old-1', 'C1');
      await publishTo(n.legacyDeliveredLog, 'old-1');

      gateway = await Gateway.start(kz, memoryLogger().log);
      expect(await redis.hget(`${n.redisPrefix}seen:old-1`, 'state'), 'applied at start').to.equal(
        'delivered',
      );

      // An older replica still running commits another line into the retired queue.
      await pendingClaim(redis, n.redisPrefix, 'old-2', 'C2');
      await publishTo(n.legacyDeliveredLog, 'old-2');
      await eventually(
        async () =>
          (await redis.hget(`${n.redisPrefix}seen:old-2`, 'state')) === 'delivered' ? true : undefined,
        15_000,
        'the later line applied',
      );

      const check = await amqp.connect(AMQP_URL);
      try {
        const cch = await check.createChannel();
        expect(
          (await cch.checkQueue(n.legacyDeliveredLog)).messageCount,
          'left in the retired queue',
        ).to.equal(0);
      } finally {
        await check.close();
      }
      const status = await runCli(['status', '--config', configFileFor(kz)]);
      expect(status.stdout).to.include(n.deliveredLog);
      expect(status.stdout).to.match(
        new RegExp(`${n.legacyDeliveredLog.replace(/\./g, '\\.')} +0 / \\d+ +\\(retired`),
      );
    });
  });
});
