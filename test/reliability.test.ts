import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import type { SubmissionInput } from '../src/client/index.js';
import { names } from '../src/config.js';
import { Gateway } from '../src/gateway.js';
import { ownQueues, queueArgs } from '../src/topology.js';
import { Alerts } from '../src/admin/alerts.js';
import { COPY_HEADER } from '../src/pipeline/outbound.js';
import type { Metrics } from '../src/pipeline/ports.js';
import { BullReceiptTimer } from '../src/schedule/receipts.js';
import { RedisMessageState } from '../src/store/redis-state.js';
import { AmqpConnection } from '../src/transport/amqp.js';
import {
  AMQP_URL,
  REDIS_URL,
  ROOT,
  authority,
  drainQueue,
  ingressWithoutGateway,
  memoryLogger,
  pairConfigs,
  removeNamespace,
  startPair,
  uniqueStem,
  waitForDeadLetter,
  type Pair,
  type TestAuthority,
  sealedCopyOf,
} from './helpers/harness.js';
import { TcpProxy } from '../scripts/chaos/tcp-proxy.js';

function request(key: string): SubmissionInput {
  const sub = JSON.parse(
    readFileSync(join(ROOT, 'examples', 'messages', 'request.json'), 'utf8'),
  ) as SubmissionInput;
  return { ...sub, idempotencyKey: key };
}

async function publishWithCopy(queue: string, content: string, copy: string): Promise<void> {
  const conn = await amqp.connect(AMQP_URL);
  try {
    const ch = await conn.createConfirmChannel();
    ch.publish('', queue, Buffer.from(content), { persistent: true, headers: { [COPY_HEADER]: copy } });
    await ch.waitForConfirms();
  } finally {
    await conn.close();
  }
}

describe('reliable delivery', () => {
  describe('through a cut link', () => {
    let pair: Pair;
    const proxies: TcpProxy[] = [];
    afterEach(async () => {
      await pair.close();
      for (const p of proxies.splice(0)) await p.close();
    });

    it('delivers every message exactly once when both of the sender’s broker links are cut and restored', async function () {
      this.timeout(60_000);
      const localProxy = await new TcpProxy('127.0.0.1', 5672).start();
      const peerProxy = await new TcpProxy('127.0.0.1', 5672).start();
      proxies.push(localProxy, peerProxy);
      pair = await startPair((raw) => {
        if (raw.party !== 'CZ') return;
        raw.amqp.url = localProxy.url();
        raw.peer.amqpUrl = peerProxy.url();
        raw.amqp.confirmTimeoutMs = 2000;
      });
      const cz = await pair.authority(pair.czConfig, 'cz-pp-ipc');
      const kz = await pair.authority(pair.kzConfig, 'kz-mia');
      const ids: string[] = [];
      for (let i = 0; i < 40; i++) {
        if (i === 10) peerProxy.cut();
        if (i === 20) localProxy.cut();
        if (i === 25) peerProxy.restore();
        if (i === 30) localProxy.restore();
        // The case system talks to the broker directly, not through the cut links.
        ids.push((await cz.client.submit(request(`cut-${i}`))).messageId);
        await new Promise((r) => setTimeout(r, 20));
      }
      for (const id of ids) {
        try {
          await cz.events.waitFor(
            (e) => e.type === 'delivered' && e.messageId === id,
            30_000,
            `delivered ${id}`,
          );
        } catch (err) {
          const mine = cz.events.items.filter((e) => e.messageId === id).map((e) => e.type);
          const conn = pair.lines.filter((l) => /broker connection|reconnect/.test(l));
          throw new Error(`${id}: events ${mine.join(',')}; connection log:\n${conn.join('')}`, {
            cause: err,
          });
        }
      }
      const got = kz.inbox.items.map((d) => d.envelope.id).sort();
      expect(got).to.deep.equal([...ids].sort());
      expect(new Set(got).size).to.equal(ids.length);
      expect(pair.lines.join('')).to.include('broker connection lost; reconnecting');
    });
  });

  describe('reception awareness', () => {
    it('resends the same sealed message, then reports failed and parks it; a late delivery still counts once', async function () {
      this.timeout(40_000);
      const { cz, kz } = pairConfigs(uniqueStem(), (raw) => {
        raw.delivery = { receiptTimeoutMs: 300, maxResends: 2, poisonAttempts: 5 };
      });
      const { log, lines } = memoryLogger();
      await ingressWithoutGateway(kz);
      const gwCz = await Gateway.start(cz, log);
      let gwKz: Gateway | undefined;
      const ipc = await authority(cz, 'cz-pp-ipc');
      try {
        const { messageId } = await ipc.client.submit(request('ra-1'));
        const failed = await ipc.events.waitFor(
          (e) => e.type === 'failed' && e.messageId === messageId,
          20_000,
          'failed',
        );
        expect(failed.code).to.equal('delivery.no_receipt');
        const letter = await waitForDeadLetter(
          names(cz.namespace).dlq,
          (l) => l.code === 'delivery.no_receipt',
        );
        expect(letter.messageId).to.equal(messageId);
        expect(letter.jwe).to.be.a('string');
        // Three copies of one sealed message: the first send and two resends, byte for byte the same.
        const copies = await drainQueue(names(kz.namespace).ingress);
        expect(copies).to.have.length(3);
        expect(new Set(copies.map((c) => c.toString())).size).to.equal(1);
        expect(copies[0]!.toString()).to.equal(letter.jwe);
        expect(lines.join('')).to.include('resent the same sealed message');

        // The peer comes back and the message is replayed from the dead letter: delivered once.
        gwKz = await Gateway.start(kz, log);
        const mia = await authority(kz, 'kz-mia');
        await publishWithCopy(names(kz.namespace).ingress, copies[0]!.toString(), randomUUID());
        await publishWithCopy(names(kz.namespace).ingress, copies[1]!.toString(), randomUUID());
        await ipc.events.waitFor(
          (e) => e.type === 'delivered' && e.messageId === messageId,
          10_000,
          'late delivered',
        );
        await new Promise((r) => setTimeout(r, 300));
        expect(mia.inbox.items.filter((d) => d.envelope.id === messageId)).to.have.length(1);
        await mia.client.close();
      } finally {
        await ipc.client.close();
        await gwCz.stop();
        await gwKz?.stop();
        await removeNamespace(cz);
        await removeNamespace(kz);
      }
    });
  });

  describe('reception awareness on the gateway’s clock', () => {
    it('stamps the failure of a message without receipt with the gateway’s clock, not the wall clock', async function () {
      this.timeout(30_000);
      const { cz, kz } = pairConfigs(uniqueStem(), (raw) => {
        raw.delivery = { receiptTimeoutMs: 200, maxResends: 1, poisonAttempts: 5 };
      });
      // A drill clock fifteen days ahead (accord start --clock-offset).
      const dayMs = 86_400_000;
      const drill = () => new Date(Date.now() + 15 * dayMs);
      await ingressWithoutGateway(kz);
      const n = names(cz.namespace);
      const peerNames = names(kz.namespace);
      const { log } = memoryLogger();
      const local = await AmqpConnection.open({
        broker: cz.amqp,
        name: 'test-receipts',
        heartbeatS: 10,
        confirmTimeoutMs: 5000,
      });
      await local.assertQueues(ownQueues(cz), queueArgs(cz));
      const redis = new Redis(REDIS_URL);
      const bull = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
      const state = new RedisMessageState(redis, n.redisPrefix);
      const noMetrics: Metrics = {
        message: () => undefined,
        receiptLatency: () => undefined,
        resent: () => undefined,
        sending: () => undefined,
        refused: () => undefined,
      };
      const timer = new BullReceiptTimer({
        config: cz,
        names: n,
        peerNames,
        state,
        local,
        peer: { publish: (q, c, p) => local.publishVia(peerNames.peerExchange, q, c, p) },
        log,
        metrics: noMetrics,
        alerts: new Alerts(cz.party, log, undefined, drill),
        connection: bull,
        now: drill,
      });
      try {
        const id = randomUUID();
        const sealedAt = drill().toISOString();
        await state.putSealed(
          id,
          {
            jwe: 'a.b.c.d.e',
            jweSha256: 'f'.repeat(64),
            from: 'cz-pp-ipc',
            idempotencyKey: 'clock-1',
            kind: 'request',
            toParty: 'KZ',
            toAuthority: 'kz-mia',
            sealedAt,
          },
          3600,
        );
        await state.markSent(id, sealedAt);
        timer.start();
        await timer.schedule(id);
        const letter = await waitForDeadLetter(n.dlq, (l) => l.messageId === id, [], 20_000);
        const events = (await drainQueue(n.events('cz-pp-ipc'))).map(
          (b) => JSON.parse(b.toString()) as { type: string; at: string; messageId: string },
        );
        const failed = events.find((e) => e.type === 'failed' && e.messageId === id);
        const failedAt = (await state.getSent(id))?.failedAt;
        // The event, the dead letter and the record all carry the drill clock's time.
        expect(failed?.at).to.be.a('string');
        expect(letter.at).to.equal(failed?.at);
        expect(failedAt).to.equal(failed?.at);
        expect(Date.parse(failed!.at) - Date.now(), 'days ahead of the wall clock').to.be.greaterThan(
          14 * dayMs,
        );
      } finally {
        await timer.close();
        await local.close();
        redis.disconnect();
        bull.disconnect();
        await removeNamespace(cz);
        await removeNamespace(kz);
      }
    });
  });

  describe('exactly once into the case system, at each crash point of the receiver', () => {
    let pair: Pair;
    let kzPrefix: string;
    let redis: Redis;
    beforeEach(async () => {
      pair = await startPair();
      kzPrefix = names(pair.kzConfig.namespace).redisPrefix;
      redis = new Redis(REDIS_URL);
    });
    afterEach(async () => {
      czDesk = undefined;
      redis.disconnect();
      await pair.close();
    });

    /** Send one message normally and return its sealed JWE and id, as stored by the sender. */
    let czDesk: TestAuthority | undefined;
    async function sentMessage(key: string) {
      czDesk ??= await pair.authority(pair.czConfig, 'cz-pp-ipc');
      const cz = czDesk;
      const { messageId } = await cz.client.submit(request(key));
      await cz.events.waitFor(
        (e) => e.type === 'delivered' && e.messageId === messageId,
        10_000,
        'delivered',
      );
      return { messageId, jwe: await sealedCopyOf(pair.czConfig, messageId), cz };
    }

    it('crash after the delivery committed, before the claim was marked: a resend is not delivered again', async () => {
      const kz = await pair.authority(pair.kzConfig, 'kz-mia');
      const { messageId, jwe } = await sentMessage('cp-after-commit');
      // Put the claim back to the state a crash right after the commit leaves behind.
      await redis.hset(`${kzPrefix}seen:${messageId}`, 'state', 'pending', 'copy', 'crashed-copy');
      await publishWithCopy(names(pair.kzConfig.namespace).ingress, jwe, 'resend-copy');
      // The resend waits on the pending claim; the delivered-log line of the committed delivery resolves it.
      await publishWithCopy(names(pair.kzConfig.namespace).deliveredLog, messageId, 'log');
      await eventuallyState(redis, `${kzPrefix}seen:${messageId}`, 'delivered');
      await new Promise((r) => setTimeout(r, 1500));
      expect(kz.inbox.items.filter((d) => d.envelope.id === messageId)).to.have.length(1);
      expect(await redis.llen(`${kzPrefix}never`)).to.equal(0);
    });

    it('crash before the delivery committed: the same copy, requeued, is delivered', async () => {
      const kz = await pair.authority(pair.kzConfig, 'kz-mia');
      const { messageId, jwe } = await sentMessage('cp-before-commit');
      // Pretend the first delivery never committed: no inbox message, a pending claim by copy C1.
      kz.inbox.items.splice(0);
      await drainQueue(names(pair.kzConfig.namespace).inbox('kz-mia'));
      await redis.hset(`${kzPrefix}seen:${messageId}`, 'state', 'pending', 'copy', 'C1');
      await publishWithCopy(names(pair.kzConfig.namespace).ingress, jwe, 'C1');
      await kz.inbox.waitFor((d) => d.envelope.id === messageId, 10_000, 'redelivery of the same copy');
      await eventuallyState(redis, `${kzPrefix}seen:${messageId}`, 'delivered');
      expect(kz.inbox.items.filter((d) => d.envelope.id === messageId)).to.have.length(1);
      // A new attempt of the same copy: a wait on the delivered-log for the first one no longer counts.
      expect(await redis.hget(`${kzPrefix}seen:${messageId}`, 'attempt')).to.equal('1');
    });

    it('a duplicate after delivery is answered with the stored receipt, and nothing is delivered', async () => {
      const kz = await pair.authority(pair.kzConfig, 'kz-mia');
      const { messageId, jwe } = await sentMessage('cp-after-receipt');
      const stored = await redis.hget(`${kzPrefix}seen:${messageId}`, 'receiptJwe');
      await publishWithCopy(names(pair.kzConfig.namespace).ingress, jwe, 'late-resend');
      const marker = await sentMessage('cp-marker');
      expect(marker.messageId).not.to.equal(messageId);
      expect(kz.inbox.items.filter((d) => d.envelope.id === messageId)).to.have.length(1);
      expect(await redis.hget(`${kzPrefix}seen:${messageId}`, 'receiptJwe')).to.equal(stored);
      expect(await drainQueue(names(pair.czConfig.namespace).dlq)).to.have.length(0);
    });
  });

  describe('poison messages and Redis', () => {
    it('parks a message whose processing fails the same way again and again, and keeps the rest flowing', async function () {
      this.timeout(30_000);
      const pair = await startPair((raw) => {
        raw.delivery = { receiptTimeoutMs: 30_000, maxResends: 5, poisonAttempts: 3 };
      });
      const redis = new Redis(REDIS_URL);
      try {
        const cz = await pair.authority(pair.czConfig, 'cz-pp-ipc');
        const kz = await pair.authority(pair.kzConfig, 'kz-mia');
        const sub = request('poison-1');
        const { messageId } = await cz.client
          .submit({ ...sub, idempotencyKey: 'poison-probe' })
          .then(() => cz.client.submit(sub));
        // Make KZ's state for this id unreadable (a string where a hash belongs): every attempt fails.
        await redis.set(`${names(pair.kzConfig.namespace).redisPrefix}seen:${messageId}`, 'garbage');
        const letter = await waitForDeadLetter(
          names(pair.kzConfig.namespace).dlq,
          (l) => l.code === 'delivery.poison',
          [],
          20_000,
        );
        expect(letter).to.include({ source: 'ingress' });
        expect(letter.message).to.include('3 attempts');
        const ok = await cz.client.submit(request('poison-after'));
        await kz.inbox.waitFor(
          (d) => d.envelope.id === ok.messageId,
          10_000,
          'traffic after the poison message',
        );
      } finally {
        redis.disconnect();
        await pair.close();
      }
    });

    it('refuses to start when Redis may evict keys', async () => {
      const redis = new Redis(REDIS_URL);
      const before = ((await redis.config('GET', 'maxmemory-policy')) as string[])[1]!;
      await redis.config('SET', 'maxmemory-policy', 'allkeys-lru');
      try {
        const { cz } = pairConfigs(uniqueStem());
        const { log } = memoryLogger();
        const err = await Gateway.start(cz, log).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).to.have.property('code', 'infra.unavailable');
        expect(String((err as Error).message)).to.include('noeviction');
      } finally {
        await redis.config('SET', 'maxmemory-policy', before);
        redis.disconnect();
      }
    });
  });

  describe('quorum queues', () => {
    it('runs the round trip on quorum queues when the config asks for them', async () => {
      const pair = await startPair((raw) => {
        raw.amqp.queueType = 'quorum';
      });
      try {
        const cz = await pair.authority(pair.czConfig, 'cz-pp-ipc');
        const kz = await pair.authority(pair.kzConfig, 'kz-mia');
        const { messageId } = await cz.client.submit(request('quorum-1'));
        await cz.events.waitFor(
          (e) => e.type === 'delivered' && e.messageId === messageId,
          10_000,
          'delivered',
        );
        expect(kz.inbox.items.map((d) => d.envelope.id)).to.deep.equal([messageId]);
        const conn = await amqp.connect(AMQP_URL);
        const ch = await conn.createChannel();
        ch.on('error', () => undefined);
        // Re-declaring as classic must be refused by the broker: the queue really is a quorum queue.
        const err = await ch.assertQueue(names(pair.kzConfig.namespace).ingress, { durable: true }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(String(err)).to.include('x-queue-type');
        await conn.close().catch(() => undefined);
      } finally {
        await pair.close();
      }
    });
  });
});

async function eventuallyState(redis: Redis, key: string, state: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await redis.hget(key, 'state')) !== state) {
    if (Date.now() > deadline) throw new Error(`${key} never reached ${state}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
