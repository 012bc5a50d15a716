/**
 * One gateway: connects to its broker, the peer's broker and Redis, declares its topology, and runs the
 * outbound and inbound pipelines and the receipt timers. Built from a checked config by the
 * composition root (cli/start, the demo, the tests); `stop()` is memoised and closes everything.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { describeRedis, redisConnection } from './store/redis-connect.js';
import type { Logger } from 'pino';
import { names, type Config } from './config.js';
import { loadKeyRing, watchKeys } from './keys/watch.js';
import { daysUntilExpiry } from './crypto/lifecycle.js';
import { GatewayKeyExchange } from './keys/exchange.js';
import { cryptoRunner, type CryptoRunner } from './crypto/pool.js';
import { URGENT_PRIORITY } from './pipeline/dispatch.js';
import { AccordError, ERROR_CODES, RETRY_DELAY_MS, asAccordError, dispositionOfFailure } from './errors.js';
import { commitWith, deadLetterMessage, type GatewayContext } from './pipeline/context.js';
import { InboundPipeline } from './pipeline/inbound.js';
import { OutboundPipeline } from './pipeline/outbound.js';
import type { Incoming } from './pipeline/ports.js';
import { BullReceiptTimer } from './schedule/receipts.js';
import { BullDeadlines } from './schedule/deadlines.js';
import {
  RedisMessageState,
  RedisProbeMarks,
  RedisProvenance,
  RedisSuspensions,
} from './store/redis-state.js';
import { RedisReviews } from './store/redis-review.js';
import { RedisDirectory } from './store/redis-directory.js';
import { loadHooks } from './policy/hooks.js';
import { tlsSocketOptions } from './transport/tls.js';
import { GatewayMetrics } from './admin/metrics.js';
import { Alerts } from './admin/alerts.js';
import { AdminServer } from './admin/server.js';
import { AuditLog } from './audit/log.js';
import { checkpointSigner } from './audit/checkpoint.js';
import { drainHandoff, handoffChannel } from './audit/handoff.js';
import { RedisLedger } from './store/redis-ledger.js';
import { DestructionOrders } from './schedule/destruction.js';
import { LinkWatch } from './admin/dashboard.js';
import type { AddressInfo } from 'node:net';
import { readFileSync, statSync } from 'node:fs';
import { AmqpConnection, type PublishProps, type Tx, type TxOutcome } from './transport/amqp.js';
import { DeliveredLogBarrier, PROBE_MARK_TTL_S } from './transport/delivered-log.js';
import type { ConsumeMessage } from 'amqplib';

/** A delivery in the urgent lane (Art. 9(1)): its crypto goes first, and it never waits at the gate. */
function isUrgent(msg: ConsumeMessage): boolean {
  return (msg.properties.priority as number | undefined) === URGENT_PRIORITY;
}

/** Every queue this gateway owns on its local broker. */
export function ownQueues(config: Config): string[] {
  const n = names(config.namespace);
  return [
    n.outbox,
    n.ingress,
    n.dlq,
    n.deliveredLog,
    ...config.authorities.flatMap((a) => [n.inbox(a.id), n.events(a.id), n.review(a.id)]),
    ...config.exportDestinations.map((d) => n.exportQueue(d.id)),
    n.held,
  ];
}

/**
 * Queues of older versions that this one no longer declares or publishes to, but drains while they
 * exist (the delivered-log before its single active consumer); the operator deletes them after an
 * upgrade, and whoever removes a whole namespace (tests, demo, bench) deletes them too.
 */
export function retiredQueues(config: Config): string[] {
  return [names(config.namespace).legacyDeliveredLog];
}

/** The admin server's bearer token, from the environment or a file (owner-only), at least 32 characters. */
export function readAdminToken(
  admin: NonNullable<Config['admin']>,
  env: NodeJS.ProcessEnv = process.env,
): string {
  let token: string | undefined;
  if (admin.tokenEnv !== undefined) token = env[admin.tokenEnv];
  if (admin.tokenFile !== undefined) {
    const st = statSync(admin.tokenFile, { throwIfNoEntry: false });
    if (!st || st.size > 4096) {
      throw new AccordError('config.invalid', 'admin.tokenFile is missing or too large', {
        path: 'admin.tokenFile',
      });
    }
    if ((st.mode & 0o077) !== 0) {
      throw new AccordError('config.invalid', 'admin.tokenFile is readable by others (chmod 600)', {
        path: 'admin.tokenFile',
      });
    }
    token = readFileSync(admin.tokenFile, 'utf8').trim();
  }
  if (token === undefined || token.length < 32) {
    throw new AccordError('config.invalid', 'the admin token is missing or shorter than 32 characters', {
      path: admin.tokenEnv !== undefined ? 'admin.tokenEnv' : 'admin.tokenFile',
    });
  }
  return token;
}

/** The exchanges a gateway declares on its broker (each bound to one of its queues). */
export function ownExchanges(config: Config): string[] {
  const n = names(config.namespace);
  return [n.submitExchange, n.peerExchange];
}

/**
 * Queue arguments. Classic queues get priorities, so urgent requests (Art. 9(1)) overtake queued bulk
 * traffic; quorum queues (replicated) have no priorities before RabbitMQ 4.
 */
export function queueArgs(config: Config): Record<string, unknown> {
  return config.amqp.queueType === 'quorum' ? { 'x-queue-type': 'quorum' } : { 'x-max-priority': 10 };
}

/**
 * The arguments of one of this gateway's queues: `queueArgs`; for the held queue (Art. 10(4)) a TTL
 * after which a held message goes back to the ingress through the peer exchange; for the
 * delivered-log a single active consumer and no priorities (transport/delivered-log.ts).
 */
export function queueArgsFor(config: Config, queue: string): Record<string, unknown> {
  const n = names(config.namespace);
  if (queue === n.deliveredLog) {
    // One replica applies the lines at a time, in queue order: what makes a probe line a barrier.
    // Plain FIFO: with priorities, a line published with one could overtake a probe.
    return {
      ...(config.amqp.queueType === 'quorum' ? { 'x-queue-type': 'quorum' } : {}),
      'x-single-active-consumer': true,
    };
  }
  if (queue !== n.held) return queueArgs(config);
  return {
    ...queueArgs(config),
    'x-message-ttl': config.dataProtection.holdRetryS * 1000,
    'x-dead-letter-exchange': n.peerExchange,
    'x-dead-letter-routing-key': n.ingress,
  };
}

/**
 * Check that Redis keeps what BullMQ and the de-duplication keys rely on: `maxmemory-policy noeviction`
 * (the only policy under which keys are never dropped silently). Returns warnings for what is merely
 * unsafe outside development (no AOF).
 */
export async function checkRedis(redis: Redis): Promise<string[]> {
  const warnings: string[] = [];
  let policy: string | undefined;
  let aof: string | undefined;
  try {
    policy = ((await redis.config('GET', 'maxmemory-policy')) as string[])[1];
    aof = ((await redis.config('GET', 'appendonly')) as string[])[1];
  } catch {
    warnings.push('Redis CONFIG is not available; maxmemory-policy and appendonly could not be checked');
    return warnings;
  }
  if (policy !== undefined && policy !== 'noeviction') {
    throw new AccordError(
      'infra.unavailable',
      `Redis maxmemory-policy is "${policy}"; Accord needs "noeviction" (set it with CONFIG SET maxmemory-policy noeviction)`,
    );
  }
  if (aof === 'no') {
    const msg = 'Redis runs without appendonly; a Redis crash loses de-duplication and timer state';
    if (process.env.NODE_ENV === 'production') throw new AccordError('infra.unavailable', msg);
    warnings.push(msg);
  }
  return warnings;
}

/**
 * Counts how often the same delivery failed the same way, so a poison message is parked instead of
 * retried forever. In memory: after a restart a poison message gets a fresh count, which only delays it.
 */
class PoisonCounter {
  private readonly counts = new Map<string, number>();
  constructor(private readonly limit: number) {}

  /** Returns true when this failure reaches the limit. */
  fail(key: string): boolean {
    const n = (this.counts.get(key) ?? 0) + 1;
    if (n >= this.limit) {
      this.counts.delete(key);
      return true;
    }
    // Bounded: a flood of distinct failing messages must not grow memory without end.
    if (this.counts.size > 10_000) this.counts.clear();
    this.counts.set(key, n);
    return false;
  }

  forget(key: string): void {
    this.counts.delete(key);
  }
}

export class Gateway extends EventEmitter {
  private stopped: Promise<void> | undefined;
  /** Where the admin server listens, when the config has one. */
  adminAddress: AddressInfo | undefined;
  private readonly closers: (() => Promise<void> | void)[] = [];

  private constructor(
    readonly config: Config,
    private readonly local: AmqpConnection,
    private readonly peer: AmqpConnection,
    private readonly redis: Redis,
    private readonly bullRedis: Redis,
    private readonly timers: BullReceiptTimer,
    private readonly deadlines: BullDeadlines,
    private readonly log: Logger,
  ) {
    super();
  }

  /** Connect, declare the topology and start consuming. */
  static async start(config: Config, log: Logger, now: () => Date = () => new Date()): Promise<Gateway> {
    const n = names(config.namespace);
    // Issue 7: the key ring follows key-state.json (lifecycle, revocation, expiry) and reloads on change.
    const keys = await loadKeyRing(config, now);
    // Art. 9(4) hooks are code named in the config: a broken one stops the start before anything is touched.
    const hooks = await loadHooks(config.policy.hooks);
    const redis = redisConnection(config.redis, {
      lazyConnect: true,
      maxRetriesPerRequest: 3,
      // Commands issued in one tick go out in one write (bench: +2–10% e2e-1k, fewer syscalls on both ends).
      enableAutoPipelining: true,
    });
    redis.on('error', (err: Error) => log.warn({ err: err.message }, 'redis error'));
    try {
      await redis.connect();
    } catch (err) {
      redis.disconnect();
      throw new AccordError('infra.unavailable', `cannot connect to ${describeRedis(config.redis)}`, {
        cause: err,
      });
    }
    if (config.redis.sentinel) {
      // Which primary the Sentinels named: the startup checks below (checkRedis) run against it.
      const { remoteAddress, remotePort } = redis.stream;
      log.info(
        { group: config.redis.sentinel.name, primary: `${remoteAddress}:${remotePort}` },
        'Redis primary found through Sentinel',
      );
    }
    // BullMQ workers need `maxRetriesPerRequest: null` (they block on Redis and must never give up).
    const bullRedis = redisConnection(config.redis, { maxRetriesPerRequest: null });
    bullRedis.on('error', (err: Error) => log.warn({ err: err.message }, 'redis (timers) error'));
    let local: AmqpConnection | undefined;
    let peer: AmqpConnection | undefined;
    let timers: BullReceiptTimer | undefined;
    let deadlines: BullDeadlines | undefined;
    let directorySub: Redis | undefined;
    let audit: AuditLog | undefined;
    let crypto: CryptoRunner | undefined;
    let deliveredLog: DeliveredLogBarrier | undefined;
    try {
      // Art. 10(6): the records; one writer per file, durable before any message is acked.
      audit = await AuditLog.open({
        file: auditFileOf(config),
        now,
        signer: checkpointSigner(keys),
        checkpointEvery: config.records.checkpointEvery,
      });
      for (const w of await checkRedis(redis)) log.warn(w);
      if (config.policy.identifierKey === undefined) {
        log.warn(
          'policy.identifierKey is not set: the export gate checks declared references only (Art. 11(2))',
        );
      }
      const amqpOpts = { heartbeatS: config.amqp.heartbeatS, confirmTimeoutMs: config.amqp.confirmTimeoutMs };
      local = await AmqpConnection.open({
        ...amqpOpts,
        ...(config.amqp.tls ? { tls: tlsSocketOptions(config.amqp.tls, 'amqp.tls') } : {}),
        url: config.amqp.url,
        name: `accord-${config.namespace ?? config.party}-local`,
      });
      peer = await AmqpConnection.open({
        ...amqpOpts,
        ...(config.peer.tls ? { tls: tlsSocketOptions(config.peer.tls, 'peer.tls') } : {}),
        url: config.peer.amqpUrl,
        name: `accord-${config.namespace ?? config.party}-peer`,
      });
      for (const [c, which] of [
        [local, 'local'],
        [peer, 'peer'],
      ] as const) {
        c.on('down', (err: Error) =>
          log.error({ broker: which, err: err.message }, 'broker connection lost; reconnecting'),
        );
        c.on('up', () => log.info({ broker: which }, 'broker connection up'));
        c.on('reconnect-failed', (err: Error) =>
          log.warn({ broker: which, err: err.message }, 'reconnect failed; retrying'),
        );
      }
      const queues = ownQueues(config);
      const ownArgs = [n.held, n.deliveredLog];
      await local.assertQueues(
        queues.filter((q) => !ownArgs.includes(q)),
        queueArgs(config),
      );
      for (const q of ownArgs) await local.assertQueues([q], queueArgsFor(config, q));
      // Submissions and the peer's messages come through exchanges bound to one queue each, so that
      // broker users need no write permission on the default exchange (docs/security.md).
      await local.assertRoute(n.submitExchange, n.outbox);
      await local.assertRoute(n.peerExchange, n.ingress);

      const state = new RedisMessageState(redis, n.redisPrefix);
      const peerNames = names(config.peer.namespace);
      const alerts = new Alerts(config.party, log, config.alerts.webhookUrl, now);
      // Alert when the peer link stays down (a blip while reconnecting is not worth a page).
      let peerDownTimer: NodeJS.Timeout | undefined;
      let peerDownSince = 0;
      peer.on('down', () => {
        if (peerDownTimer) return;
        peerDownSince = Date.now();
        peerDownTimer = setTimeout(() => {
          alerts.raise('alert.peer_link_down', { downForS: Math.round((Date.now() - peerDownSince) / 1000) });
        }, config.alerts.peerDownAfterS * 1000);
        peerDownTimer.unref();
      });
      peer.on('up', () => {
        clearTimeout(peerDownTimer);
        peerDownTimer = undefined;
      });
      const ledger = new RedisLedger(redis, n.redisPrefix, config.policy.identifierRetentionDays * 86_400);
      const reviews = new RedisReviews(redis, n.redisPrefix);
      const suspensions = new RedisSuspensions(redis, n.redisPrefix);
      const metrics = new GatewayMetrics(config.party, {
        dlqDepth: () => local!.messageCount(n.dlq),
        peerLinkUp: () => peer!.isUp,
        localBrokerUp: () => local!.isUp,
        pendingReviews: async () => (await reviews.pending()).length,
        suspensionsInForce: async () =>
          (await suspensions.list()).filter(
            (e) => e.effectiveAt !== undefined && Date.parse(e.effectiveAt) <= now().getTime(),
          ).length,
        consentsPending: () => ledger.consentsPending(),
        destructions: async () => {
          const t = now().getTime();
          const graceMs = config.dataProtection.destruction.confirmGraceHours * 3_600_000;
          return { due: await ledger.heldDueBefore(t), overdue: await ledger.heldDueBefore(t - graceMs) };
        },
        keyExpiries: () =>
          daysUntilExpiry(keys.lifecycle, now()).map((k) => ({
            kid: k.kid,
            owner: k.owner,
            use: k.use,
            days: k.daysLeft,
          })),
      });
      // Everything for the peer goes to its ingress through its peer exchange.
      const peerLink = {
        publish: (queue: string, content: Buffer, props: PublishProps) =>
          peer!.publishVia(peerNames.peerExchange, queue, content, props),
      };
      timers = new BullReceiptTimer({
        config,
        names: n,
        peerNames,
        state,
        local,
        peer: peerLink,
        log,
        metrics,
        alerts,
        connection: bullRedis,
      });
      deadlines = new BullDeadlines({
        names: n,
        redis,
        connection: bullRedis,
        local,
        log,
        alerts,
        now,
        sweepIntervalMs: config.dataProtection.sweepIntervalMs,
      });
      const orders = new DestructionOrders({ config, names: n, ledger, deadlines, local, log, now });
      deadlines.onDue('destruction-due', (d) => orders.deadline(d));
      deadlines.onDue('termination-effective', (d) => orders.termination(d));
      // Resolves claims left pending by a crash between commit and mark, and is the cluster-wide
      // barrier a copy that comes back waits on (inbound.ts, transport/delivered-log.ts).
      deliveredLog = new DeliveredLogBarrier({
        queue: n.deliveredLog,
        legacyQueue: n.legacyDeliveredLog,
        broker: local,
        state,
        marks: new RedisProbeMarks(redis, n.redisPrefix, PROBE_MARK_TTL_S),
        log,
      });
      // Art. 13: the peer's directory in force — the config's, until an operator approves an update.
      const directory = new RedisDirectory(redis, n.redisPrefix);
      const peerAuthorities = new Set<string>();
      const applyDirectory = async () => {
        const approved = await directory.current();
        const ids = (approved?.authorities ?? config.peer.authorities).map((a) => a.id);
        peerAuthorities.clear();
        for (const id of ids) peerAuthorities.add(id);
        if (approved) {
          log.info(
            { updateId: approved.updateId, authorities: ids.length },
            'peer directory in force: approved update',
          );
        }
      };
      await applyDirectory();
      directorySub = redis.duplicate();
      await directorySub.subscribe(directory.channel);
      directorySub.on('message', () => {
        applyDirectory().catch((err: unknown) =>
          log.error({ err: (err as Error).message }, 'could not read the approved directory'),
        );
      });
      // Issue 7: in-band key announcements and revocations (src/keys/exchange.ts).
      const keyExchange = new GatewayKeyExchange({
        config,
        ring: keys,
        redis,
        prefix: n.redisPrefix,
        log,
        now,
      });
      crypto = cryptoRunner({
        workers: config.crypto.workers,
        jobTimeoutMs: config.crypto.workerTimeoutMs,
        jobsPerWorker: config.crypto.jobsPerWorker,
        onReplaced: (info) => log.error(info, 'a crypto worker was replaced; its message is retried'),
      });
      const ctx: GatewayContext = {
        config,
        names: n,
        peerNames,
        keys,
        profile: config.crypto,
        crypto,
        deps: {
          local,
          peer: peerLink,
          state,
          timers,
          deliveredLog,
          provenance: new RedisProvenance(redis, n.redisPrefix),
          deadlines,
          suspensions,
          reviews,
          directory,
          ledger,
          audit,
          keyExchange,
          metrics,
          log,
          now,
        },
        ownAuthorities: new Set(config.authorities.map((a) => a.id)),
        peerAuthorities,
        hooks,
      };
      const gw = new Gateway(config, local, peer, redis, bullRedis, timers, deadlines, log);
      gw.onStop(() => directorySub?.disconnect());
      gw.onStop(() => ctx.crypto.close());
      gw.onStop(await keepRecords(config, audit, redis, n.redisPrefix, log));
      gw.onStop(() => clearTimeout(peerDownTimer));
      keyExchange.attach(ctx);
      gw.onStop(
        await watchKeys({
          config,
          ring: keys,
          redis,
          redisPrefix: n.redisPrefix,
          log,
          now,
          alerts,
          onReload: () => void keyExchange.sendPending(),
        }),
      );
      const outbound = new OutboundPipeline(ctx);
      const inbound = new InboundPipeline(ctx);
      const poison = new PoisonCounter(config.delivery.poisonAttempts);

      /** Run a pipeline on one delivery; infrastructure failures retry, repeated other failures park it. */
      const guarded =
        (stage: 'outbox' | 'ingress', handle: (m: Incoming, tx: Tx) => Promise<TxOutcome>) =>
        async (msg: ConsumeMessage, tx: Tx): Promise<TxOutcome> => {
          const incoming: Incoming = {
            content: msg.content,
            redelivered: msg.fields.redelivered,
            headers: msg.properties.headers ?? {},
            ...(typeof msg.properties.userId === 'string' ? { userId: msg.properties.userId } : {}),
            urgent: isUrgent(msg),
          };
          const key = createHash('sha256').update(msg.content).digest('hex');
          try {
            const outcome = await handle(incoming, tx);
            poison.forget(key);
            return outcome;
          } catch (err) {
            const connectionsDown = !local!.isUp || !peer!.isUp || redis.status !== 'ready';
            const disposition = dispositionOfFailure(err, connectionsDown);
            if (disposition === 'wait-for-key') {
              // Never sign with an expired key, never drop the message: it waits for a valid key.
              log.error(
                { stage, code: (err as AccordError).code, kid: (err as AccordError).kid },
                'no valid key to seal with; the message waits',
              );
              return { requeueAfterMs: RETRY_DELAY_MS[disposition] };
            }
            if (disposition === 'retry-after') {
              log.warn(
                { stage, err: (err as Error).message },
                'infrastructure unavailable; the message waits',
              );
              return { requeueAfterMs: RETRY_DELAY_MS[disposition] };
            }
            const e = asAccordError(err);
            log.error({ stage, code: e.code, err: (err as Error)?.message }, 'processing failed');
            if (!poison.fail(key)) return { requeueAfterMs: RETRY_DELAY_MS['retry-after'] };
            await commitWith(
              tx,
              deadLetterMessage(ctx, {
                at: now().toISOString(),
                source: stage,
                code: 'delivery.poison',
                message: `${ERROR_CODES['delivery.poison']} (${config.delivery.poisonAttempts} attempts; last: ${e.code})`,
                inputSha256: key,
                inputBytes: msg.content.length,
                ...(stage === 'ingress' ? { jwe: msg.content.toString('latin1') } : {}),
              }),
            );
            return 'done';
          }
        };
      const onError = (stage: string) => (err: unknown) =>
        log.error({ stage, err: (err as Error)?.message }, 'consumer failure; the message is requeued');

      const admission = {
        concurrency: config.amqp.concurrency,
        urgent: isUrgent,
      };
      await local.consumeTx(
        n.outbox,
        config.amqp.prefetch,
        guarded('outbox', (m, tx) => outbound.handle(m, tx)),
        onError('outbox'),
        admission,
      );
      await local.consumeTx(
        n.ingress,
        config.amqp.prefetch,
        guarded('ingress', (m, tx) => inbound.handle(m, tx)),
        onError('ingress'),
        admission,
      );
      // Every replica consumes the delivered-log; the broker lets one at a time apply its lines.
      await deliveredLog.start((err: unknown) =>
        log.error(
          { stage: 'delivered-log', err: (err as Error)?.message },
          'a delivered-log line could not be applied; retrying it in place',
        ),
      );
      gw.onStop(() => deliveredLog?.stop());
      timers.start();
      deadlines.start();
      // Keys rotated or revoked while the gateway was down are announced now.
      void keyExchange.sendPending();
      if (config.admin) {
        const admin = await AdminServer.start({
          host: config.admin.host,
          port: config.admin.port,
          token: readAdminToken(config.admin),
          registry: metrics.registry,
          log,
          checks: {
            'local-broker': () => Promise.resolve(local!.isUp ? undefined : 'not connected'),
            'peer-broker': () => Promise.resolve(peer!.isUp ? undefined : 'not connected'),
            redis: async () => ((await redis.ping()) === 'PONG' ? undefined : 'no PONG'),
            keys: () => Promise.resolve(keys.unusable()),
            'audit-log': () => audit!.unwritable(),
          },
          // Issue 8: the dashboard at / and /api/summary (src/admin/dashboard.ts).
          dashboard: {
            party: config.party,
            now,
            links: { peer: new LinkWatch(peer, now), local: new LinkWatch(local, now) },
            metrics,
            alerts,
            keys,
            dlqDepth: () => local!.messageCount(n.dlq),
            pendingReviews: () => reviews.pending(),
            suspensions,
          },
        });
        gw.adminAddress = admin.address;
        gw.onStop(() => admin.close());
      }
      log.info(
        { party: config.party, namespace: config.namespace, outbox: n.outbox, ingress: n.ingress },
        'gateway started',
      );
      return gw;
    } catch (err) {
      deliveredLog?.stop();
      await crypto?.close();
      await timers?.close().catch(() => undefined);
      await deadlines?.close().catch(() => undefined);
      await audit?.close().catch(() => undefined);
      await local?.close();
      await peer?.close();
      directorySub?.disconnect();
      redis.disconnect();
      bullRedis.disconnect();
      throw err;
    }
  }

  /** Run `close` when the gateway stops (after the brokers' connections are closed). */
  onStop(close: () => Promise<void> | void): void {
    this.closers.push(close);
  }

  /** Stop consuming and close every connection; safe to call more than once. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      await this.local.close();
      await this.peer.close();
      for (const close of this.closers) await close();
      await this.timers.close().catch(() => undefined);
      await this.deadlines.close().catch(() => undefined);
      this.redis.disconnect();
      this.bullRedis.disconnect();
      this.log.info({ party: this.config.party }, 'gateway stopped');
    })();
    return this.stopped;
  }
}

/** The gateway's audit log file (Art. 10(6)). */
export function auditFileOf(config: Config): string {
  // checkConfigData always fills it in (beside the config file when absent): one place for the default.
  const file = config.records.auditFile;
  if (file === undefined) throw new AccordError('config.invalid', 'records.auditFile is not resolved');
  return file;
}

/**
 * Art. 10(6) housekeeping: a signed checkpoint at least every `checkpointIntervalS` while records are
 * written, and the records the `accord` command hands over (audit/handoff.ts). Returns the closer,
 * which writes a last checkpoint and closes the log.
 */
async function keepRecords(
  config: Config,
  audit: AuditLog,
  redis: Redis,
  prefix: string,
  log: Logger,
): Promise<() => Promise<void>> {
  const drain = () =>
    drainHandoff(redis, prefix, audit, log).catch((err: unknown) =>
      log.error({ err: (err as Error).message }, 'handed-over audit records could not be appended'),
    );
  await drain();
  const sub = redis.duplicate();
  await sub.subscribe(handoffChannel(prefix));
  sub.on('message', () => void drain());
  let lastCheckpoint = audit.latestCheckpointHash();
  let written = audit.recordsWritten();
  const timer = setInterval(() => {
    // Only when something was recorded since the last checkpoint.
    if (audit.recordsWritten() === written && audit.latestCheckpointHash() === lastCheckpoint) return;
    audit
      .checkpoint()
      .then(() => {
        lastCheckpoint = audit.latestCheckpointHash();
        written = audit.recordsWritten();
      })
      .catch((err: unknown) => log.error({ err: (err as Error).message }, 'audit checkpoint failed'));
  }, config.records.checkpointIntervalS * 1000);
  timer.unref();
  return async () => {
    clearInterval(timer);
    sub.disconnect();
    if (audit.recordsWritten() !== written) await audit.checkpoint().catch(() => undefined);
    await audit.close();
  };
}
