/**
 * Resilience against a hostile or broken peer, between two real gateways: a refusal hook that computes
 * without yielding is still timed out; a replayed sealed message is never delivered twice, even when
 * its de-duplication record is gone; a hold (Art. 10(4)) is timed by the gateway, never by a header the
 * peer sets; the broker limits what a peer can make the gateway hold in memory; and the pending reviews
 * are the live ones only.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import type { InboxDelivery, SubmissionInput } from '../src/client/index.js';
import { brokerDefinitions } from '../src/cli/broker.js';
import { names, type Config } from '../src/config.js';
import { RedisReviews } from '../src/store/redis-review.js';
import { queueArgsFor } from '../src/topology.js';
import {
  AMQP_URL,
  CLI,
  Collector,
  REDIS_URL,
  ROOT,
  eventually,
  example,
  pairConfigs,
  publishRaw,
  sealAsCz,
  startPair,
  testEnvelope,
  uniqueStem,
  waitForDeadLetter,
  type Pair,
  type TestAuthority,
  sealedCopyOf,
} from './helpers/harness.js';

const DAY = 86_400_000;
const hook = (name: string) => join(ROOT, 'test', 'fixtures', 'hooks', `${name}.mjs`);

/** Publish bytes to a queue with AMQP headers of the publisher's choosing, as a peer can. */
async function publishWithHeaders(queue: string, content: Buffer, headers: Record<string, string>) {
  const conn = await amqp.connect(AMQP_URL);
  try {
    const ch = await conn.createConfirmChannel();
    ch.publish('', queue, content, { persistent: true, contentType: 'application/jose', headers });
    await ch.waitForConfirms();
  } finally {
    await conn.close();
  }
}

describe('a hostile or broken peer, between two gateways', function () {
  this.timeout(60_000);
  let pair: Pair;
  let czIpc: TestAuthority;
  let kzMia: TestAuthority;
  const review = new Collector<InboxDelivery>();
  const kzDlq = () => names(pair.kzConfig.namespace).dlq;
  const czDlq = () => names(pair.czConfig.namespace).dlq;
  const kzIngress = () => names(pair.kzConfig.namespace).ingress;
  const kzLetters: Record<string, unknown>[] = [];
  const czLetters: Record<string, unknown>[] = [];

  before(async () => {
    pair = await startPair((raw) => {
      // Art. 10(4): a held message comes back every second and is parked after about two.
      raw.dataProtection = { holdRetryS: 1, holdMaxHours: 0.0005 };
      if (raw.party !== 'KZ') return;
      raw.policy = { ...raw.policy, hooks: [{ id: 'busy', module: hook('busy'), timeoutMs: 50 }] };
    });
    czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
    kzMia = await pair.authority(pair.kzConfig, 'kz-mia');
    await kzMia.client.onReview((held) => review.push(held));
  });
  after(async () => {
    await pair.close();
  });

  it('a refusal hook that computes past its time limit without yielding sends the request to review', async () => {
    const sub = example('request', 'busy-hook');
    sub.body.crimeCategories = ['forgery'];
    sub.body.summary = 'BUSY document check';
    const { messageId } = await czIpc.client.submit(sub as SubmissionInput);
    const held = await review.waitFor((d) => d.envelope.id === messageId, 15_000, 'held for review');
    expect(held.review?.reasons).to.deep.equal([
      { by: 'hook busy', why: 'hook busy gave no answer within 50 ms' },
    ]);
    expect(kzMia.inbox.items.some((d) => d.envelope.id === messageId)).to.equal(false);
  });

  it('a replayed sealed message whose de-duplication record was lost is parked, not delivered again', async () => {
    const { messageId } = await czIpc.client.submit({
      ...example('travel-document', 'replay-lost-seen'),
      from: 'cz-pp-ipc',
      to: { party: 'KZ', authority: 'kz-mia' },
    } as SubmissionInput);
    await kzMia.inbox.waitFor((d) => d.envelope.id === messageId, 10_000, 'the first delivery');
    const redis = new Redis(REDIS_URL);
    try {
      const kzPrefix = names(pair.kzConfig.namespace).redisPrefix;
      expect(await redis.exists(`${kzPrefix}ledger:in:${messageId}`)).to.equal(1);
      const jwe = await sealedCopyOf(pair.czConfig, messageId);
      await redis.del(`${kzPrefix}seen:${messageId}`);
      await publishRaw(kzIngress(), Buffer.from(jwe));
    } finally {
      redis.disconnect();
    }
    const letter = await waitForDeadLetter(
      kzDlq(),
      (l) => l.code === 'envelope.replayed' && l.messageId === messageId,
      kzLetters,
    );
    expect(letter).to.include({ source: 'ingress' });
    expect(kzMia.inbox.items.filter((d) => d.envelope.id === messageId)).to.have.length(1);
  });

  it('takes `accord envelope seal` output as it is (its trailing newline ignored at the wire), and nothing before the JWE', async () => {
    const env = testEnvelope();
    const sealed = await new Promise<string>((resolve, reject) => {
      const child = execFile(
        'node',
        [
          CLI,
          'envelope',
          'seal',
          '--keys',
          pair.czConfig.keys.privateJwks,
          '--peer',
          pair.czConfig.peer.publicJwks,
          '--from',
          'CZ:cz-pp-ipc',
          '--to',
          'KZ:kz-mia',
        ],
        { cwd: ROOT },
        (err, stdout, stderr) => (err ? reject(new Error(stderr)) : resolve(stdout)),
      );
      child.stdin!.end(JSON.stringify(env));
    });
    expect(sealed).to.match(/\n$/);
    await publishRaw(kzIngress(), Buffer.from(sealed));
    await kzMia.inbox.waitFor((d) => d.envelope.id === env.id, 10_000, 'the sealed output, newline and all');
    // Whitespace anywhere else is still a malformed JWE: only the end of the wire body is forgiven.
    const other = testEnvelope();
    await publishRaw(kzIngress(), Buffer.concat([Buffer.from(' '), await sealAsCz(pair.czConfig, other)]));
    const letter = await waitForDeadLetter(kzDlq(), (l) => l.code === 'crypto.malformed', kzLetters);
    expect(letter).to.include({ source: 'ingress' });
    expect(kzMia.inbox.items.some((d) => d.envelope.id === other.id)).to.equal(false);
  });

  it('a message valid for longer than the receiver accepts is taken as expired once that cap has passed', async () => {
    const now = Date.now();
    const env = testEnvelope({ createdAt: new Date(now - 40 * DAY).toISOString() }, now);
    env.expiresAt = new Date(now + 300 * DAY).toISOString();
    await publishRaw(kzIngress(), await sealAsCz(pair.czConfig, env));
    const letter = await waitForDeadLetter(
      kzDlq(),
      (l) => l.code === 'envelope.expired' && l.messageId === env.id,
      kzLetters,
    );
    expect(letter).to.include({ path: 'expiresAt' });
    expect(kzMia.inbox.items.some((d) => d.envelope.id === env.id)).to.equal(false);
  });

  /** A correction from CZ of a message KZ never received, sealed as CZ's gateway would. */
  const orphanCorrection = () =>
    testEnvelope({
      kind: 'correction',
      handling: { purposes: ['combating-crime'], conditions: [], sensitive: [] },
      body: { refersTo: randomUUID(), reason: 'Wrong date of birth.' },
    });

  for (const [what, heldSince] of [
    ['extend', '2099-01-01T00:00:00.000Z'],
    ['shorten', '2000-01-01T00:00:00.000Z'],
  ] as const) {
    it(`a held-since header set by the peer can neither ${what} the hold: held receipt, then parked on time`, async () => {
      const env = orphanCorrection();
      await publishWithHeaders(kzIngress(), await sealAsCz(pair.czConfig, env), {
        'x-accord-held-since': heldSince,
      });
      // The `held` receipt goes back to CZ, which never sent this message and parks the receipt.
      await waitForDeadLetter(
        czDlq(),
        (l) => l.code === 'receipt.unknown_message' && l.messageId === env.id,
        czLetters,
      );
      // After holdMaxHours (here about two seconds) of the gateway's own clock, it is parked.
      await waitForDeadLetter(
        kzDlq(),
        (l) => l.code === 'policy.original_missing' && l.messageId === env.id,
        kzLetters,
        20_000,
      );
    });
  }
});

describe('the broker bounds what a peer can make the gateway hold', function () {
  this.timeout(60_000);
  const { kz } = pairConfigs(uniqueStem());
  const n = names(kz.namespace);
  const limit = 64 * 1024;
  const policyOf = (config: Config) => {
    const defs = brokerDefinitions(config, '/', { maxQueueBytes: limit }).definitions as {
      policies?: { name: string; pattern: string; definition: Record<string, unknown>; priority: number }[];
    };
    return defs.policies?.find((p) => new RegExp(p.pattern).test(n.ingress));
  };

  after(async () => {
    const conn = await amqp.connect(AMQP_URL);
    const ch = await conn.createChannel();
    for (const q of [n.ingress, n.outbox]) await ch.deleteQueue(q);
    await conn.close();
    const policy = policyOf(kz);
    if (policy) await rabbitmqctl(['clear_policy', '-p', '/', policy.name]).catch(() => undefined);
  });

  it('broker setup limits the bytes waiting in ingress and outbox, refusing what is over', async () => {
    const policy = policyOf(kz);
    expect(policy, 'a policy for the ingress').not.to.equal(undefined);
    const pattern = new RegExp(policy!.pattern);
    expect(pattern.test(n.outbox)).to.equal(true);
    expect(pattern.test(n.inbox('kz-mia'))).to.equal(false);
    expect(pattern.test(names('other').ingress)).to.equal(false);
    expect(policy!.definition).to.deep.equal({ 'max-length-bytes': limit, overflow: 'reject-publish' });

    // Applied on the real broker (this namespace's queues only), a publish over the limit is refused.
    const conn = await amqp.connect(AMQP_URL);
    try {
      const ch = await conn.createConfirmChannel();
      await ch.assertQueue(n.ingress, { durable: true, arguments: queueArgsFor(kz, n.ingress) });
      await rabbitmqctl([
        'set_policy',
        '-p',
        '/',
        '--apply-to',
        'queues',
        '--priority',
        String(policy!.priority),
        policy!.name,
        policy!.pattern,
        JSON.stringify(policy!.definition),
      ]);
      const chunk = Buffer.alloc(16 * 1024, 0x61);
      const refused = await eventually(
        async () => {
          const ok = await new Promise<boolean>((resolve) =>
            ch.publish('', n.ingress, chunk, { persistent: false }, (err) => resolve(err == null)),
          );
          return ok ? undefined : true;
        },
        20_000,
        'a publish refused by the queue limit',
      );
      expect(refused).to.equal(true);
    } finally {
      await conn.close();
    }
  });
});

describe('the pending reviews', () => {
  it('are only those whose review record is still there; expired ones leave the pending set', async () => {
    const prefix = `accord:${uniqueStem()}:`;
    const redis = new Redis(REDIS_URL);
    try {
      const reviews = new RedisReviews(redis, prefix);
      const rec = {
        id: randomUUID(),
        jwe: 'x.y.z.a.b',
        authority: 'kz-mia',
        addressedTo: 'kz-mia',
        fromAuthority: 'cz-pp-ipc',
        receivedAt: new Date().toISOString(),
      };
      await reviews.hold(rec, 1);
      expect(await reviews.pending()).to.deep.equal([rec.id]);
      await eventually(
        async () => ((await redis.exists(`${prefix}review:${rec.id}`)) === 0 ? true : undefined),
        10_000,
        'the review record to expire',
      );
      expect(await reviews.pending()).to.deep.equal([]);
      expect(await redis.zcard(`${prefix}reviews:pending`)).to.equal(0);
    } finally {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
  });
});

/** Run rabbitmqctl; rejects with its stderr when it fails. */
async function rabbitmqctl(args: string[]): Promise<void> {
  const { execFile } = await import('node:child_process');
  await new Promise<void>((resolve, reject) =>
    execFile('rabbitmqctl', ['-q', ...args], (err, _out, stderr) =>
      err ? reject(new Error(`rabbitmqctl ${args.join(' ')}: ${stderr}`)) : resolve(),
    ),
  );
}
