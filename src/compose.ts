/**
 * The composition root of one gateway: from a checked config, open the connections, build every
 * adapter and the pipelines on them, start the consumers, timers, watches and the admin server.
 * Everything started is registered with its closer at once, so a failure half-way closes what was
 * opened, in reverse order, and `stop` closes the rest the same way.
 */
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { IDENTIFIER_KEY_HOWTO, identifierKeyProblem } from './config-production.js';
import { names, type Config } from './config.js';
import { AccordError } from './errors.js';
import { loadKeyRing, unusableFacts, watchKeys } from './keys/watch.js';
import { daysUntilExpiry } from './crypto/lifecycle.js';
import { GatewayKeyExchange } from './keys/exchange.js';
import { cryptoRunner } from './crypto/pool.js';
import type { GatewayContext } from './pipeline/context.js';
import { InboundPipeline } from './pipeline/inbound.js';
import { OutboundPipeline } from './pipeline/outbound.js';
import { BullReceiptTimer } from './schedule/receipts.js';
import { BullDeadlines } from './schedule/deadlines.js';
import { DestructionOrders } from './schedule/destruction.js';
import {
  RedisMessageState,
  RedisProbeMarks,
  RedisProvenance,
  RedisSuspensions,
} from './store/redis-state.js';
import { RedisReviews } from './store/redis-review.js';
import { RedisDirectory } from './store/redis-directory.js';
import { RedisLedger } from './store/redis-ledger.js';
import { RedisGeneration, generationField } from './store/redis-generation.js';
import { checkRedis, describeRedis, redisConnection } from './store/redis-connect.js';
import { assertStartable } from './start-checks.js';
import { startHooks } from './policy/hook-pool.js';
import { AmqpConnection, type PublishProps } from './transport/amqp.js';
import { DeliveredLogBarrier, PROBE_MARK_TTL_S } from './transport/delivered-log.js';
import { GatewayMetrics, localPublishKind, peerPublishKind } from './admin/metrics.js';
import { Alerts } from './admin/alerts.js';
import { readFileSync } from 'node:fs';
import { AdminServer } from './admin/server.js';
import { LinkWatch } from './admin/dashboard.js';
import { dlqApi } from './admin/dlq-api.js';
import { consoleLetters } from './admin/console-letters.js';
import { consoleMessages } from './admin/console-messages.js';
import { DeadLetters } from './dlq/dead-letters.js';
import { RedisDeadLetterMarks } from './store/redis-dead-letters.js';
import { brokerUser, connectBroker } from './transport/connect.js';
import { traceMessage } from './admin/message-trace.js';
import { readAdminToken, readWebhookSecret } from './admin/token.js';
import { AuditLog, auditFileOf } from './audit/log.js';
import { checkpointSigner } from './audit/checkpoint.js';
import { IndexedAudit, RedisMessageIndex } from './store/redis-message-log.js';
import { declareTopology } from './topology.js';
import { PoisonCounter, guarded, isUrgent } from './consumers.js';
import { keepRecords } from './jobs/checkpoints.js';
import { watchDirectory } from './jobs/directory-watch.js';
import { watchPeerLink } from './jobs/peer-down-alert.js';
import { PeerHeartbeat } from './jobs/peer-heartbeat.js';
import { watchConditions } from './jobs/condition-alerts.js';
import { sendHeartbeat } from './pipeline/dispatch.js';
import { PeerWire } from './pipeline/transfer-send.js';
import type { WireVersion } from './domain/transfer.js';
import { ownQueues } from './topology.js';
import { accordVersion } from './version.js';
import { waitForOlderReplicas } from './jobs/version-fence.js';
import { RedisLossGuard } from './jobs/redis-loss.js';

/** Closers, run last-registered first. */
export class Closers {
  private readonly stack: (() => Promise<void> | void)[] = [];

  add(close: () => Promise<void> | void): void {
    this.stack.push(close);
  }

  /**
   * Run every closer once, newest first; one that fails, or does not finish in time (a client waiting
   * for a Redis that is gone), does not keep the others from running or the gateway from stopping.
   */
  async closeAll(log: Logger): Promise<void> {
    while (this.stack.length > 0) {
      const close = this.stack.pop()!;
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), CLOSE_STEP_TIMEOUT_MS);
      });
      try {
        const outcome = await Promise.race([Promise.resolve(close()).then(() => 'done' as const), late]);
        if (outcome === 'late') {
          log.warn(
            { waitedMs: CLOSE_STEP_TIMEOUT_MS },
            'a part of the gateway did not finish closing in time (is Redis or a broker gone?); stopping without it',
          );
        }
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'a closer failed while stopping');
      } finally {
        clearTimeout(timer);
      }
    }
  }
}

/** How long one step of stopping may take (see {@link Closers.closeAll}). */
export const CLOSE_STEP_TIMEOUT_MS = 5_000;

/** What the lifecycle (gateway.ts) holds of an assembled gateway. */
export interface Assembled {
  /** The two broker connections: closed first on stop, so nothing new is taken in. */
  intake: AmqpConnection[];
  closers: Closers;
  adminAddress: AddressInfo | undefined;
  /** The wire version the peer reads, as last learnt (transfer-send.ts). */
  wireVersion: () => WireVersion;
}

/**
 * Open a broker connection from a config slice, and log its ups and downs. This party's own broker
 * must answer now (nothing can be taken in without it); the peer's is the other party's, and the
 * gateway starts without it: the connection stays down and keeps trying, and the outbox waits
 * (see {@link outboxFollowsPeer}). Either fails at once on what a retry cannot fix (connect.ts).
 */
async function openBroker(which: 'local' | 'peer', config: Config, log: Logger): Promise<AmqpConnection> {
  const options = {
    broker: which === 'local' ? config.amqp : config.peer,
    heartbeatS: config.amqp.heartbeatS,
    confirmTimeoutMs: config.amqp.confirmTimeoutMs,
    name: `accord-${config.namespace ?? config.party}-${which}`,
  };
  const c = which === 'local' ? await AmqpConnection.open(options) : await AmqpConnection.openOrWait(options);
  c.on('down', (err: Error) =>
    log.error({ broker: which, err: err.message }, 'broker connection lost; reconnecting'),
  );
  c.on('up', () => log.info({ broker: which }, 'broker connection up'));
  c.on('reconnect-failed', (err: Error) =>
    log.warn({ broker: which, err: err.message }, 'reconnect failed; retrying'),
  );
  if (!c.isUp) {
    log.error(
      { broker: which },
      'the peer’s broker cannot be reached; starting without it: submissions wait in the outbox until it is',
    );
  }
  return c;
}

/**
 * The outbox is consumed only while the peer's broker is up: everything taken from it is to be sent
 * there, so while it is away the submissions wait in the outbox (durable, in the broker), not in
 * this process's memory, and are taken again once the peer link is back.
 */
function outboxFollowsPeer(local: AmqpConnection, peer: AmqpConnection, outbox: string): void {
  const follow = () => void (peer.isUp ? local.resumeConsuming(outbox) : local.pauseConsuming(outbox));
  peer.on('up', follow);
  peer.on('down', follow);
  follow();
}

/** Connect to Redis for the pipelines' state, and check that it keeps what Accord relies on. */
async function openRedis(config: Config, log: Logger, closers: Closers): Promise<Redis> {
  const redis = redisConnection(
    config.redis,
    {
      lazyConnect: true,
      maxRetriesPerRequest: 3,
      // Commands issued in one tick go out in one write (bench: +2–10% e2e-1k, fewer syscalls on both ends).
      enableAutoPipelining: true,
    },
    (err) => log.warn({ err: err.message }, 'redis error'),
  );
  closers.add(() => redis.disconnect());
  try {
    await redis.connect();
  } catch (err) {
    throw new AccordError('infra.unavailable', `cannot connect to ${describeRedis(config.redis)}`, {
      cause: err,
    });
  }
  if (config.redis.sentinel) {
    // Which primary the Sentinels named: the start-up checks below run against it.
    const { remoteAddress, remotePort } = redis.stream;
    log.info(
      { group: config.redis.sentinel.name, primary: `${remoteAddress}:${remotePort}` },
      'Redis primary found through Sentinel',
    );
  }
  for (const w of await checkRedis(redis)) log.warn(w);
  return redis;
}

/**
 * Build and start one gateway. On failure everything opened so far is closed and the error thrown;
 * on success the caller owns `closers`.
 */
export async function assemble(config: Config, log: Logger, now: () => Date): Promise<Assembled> {
  const closers = new Closers();
  try {
    return await build(config, log, now, closers);
  } catch (err) {
    await closers.closeAll(log);
    throw err;
  }
}

async function build(config: Config, log: Logger, now: () => Date, closers: Closers): Promise<Assembled> {
  // What `accord config check` checks, before anything is opened: a problem stops the start here.
  await assertStartable(config);
  const admin = config.admin ? { ...config.admin, token: readAdminToken(config.admin) } : undefined;
  const n = names(config.namespace);
  const peerNames = names(config.peer.namespace);
  // The key ring follows key-state.json (lifecycle, revocation, expiry) and reloads on change.
  const keys = await loadKeyRing(config, now);
  // Art. 9(4) hooks are code named in the config: a broken one stops the start before anything is touched.
  // They run on worker threads, so that none can stall the event loop or outlive its time limit.
  const hooks = await startHooks(config.policy.hooks);
  closers.add(() => hooks.close());
  const redis = await openRedis(config, log, closers);
  // Redis losing its data is noticed by the claims themselves (the generation marker, checked in the
  // scripts that write them) and by a watch; the gateway then rebuilds (src/jobs/redis-loss.ts). Whether
  // the namespace is empty (all of it lost) is asked now, before anything of this start writes to it.
  const generation = new RedisGeneration(redis, n.redisPrefix, generationField(auditFileOf(config)));
  const emptyAtStart = await generation.namespaceEmpty();
  // BullMQ workers need `maxRetriesPerRequest: null` (they block on Redis and must never give up).
  const bullRedis = redisConnection(config.redis, { maxRetriesPerRequest: null }, (err) =>
    log.warn({ err: err.message }, 'redis (timers) error'),
  );
  closers.add(() => bullRedis.disconnect());
  const webhookSecret = readWebhookSecret(config.alerts);
  const alerts = new Alerts(
    config.party,
    log,
    config.alerts.webhookUrl === undefined || webhookSecret === undefined
      ? undefined
      : { url: config.alerts.webhookUrl, secret: webhookSecret },
    now,
  );
  // Art. 10(6): the records; one writer per file, durable before any message is acked. A full or
  // unwritable disk fails closed: messages wait, /readyz fails, an alert says so once.
  const audit = await AuditLog.open({
    file: auditFileOf(config),
    now,
    signer: checkpointSigner(keys),
    checkpointEvery: config.records.checkpointEvery,
    onUnwritable: (reason) => alerts.open('alert.audit_unwritable', { reason }),
    onWritable: () => {
      log.warn({ code: 'infra.audit_unwritable' }, 'the audit log is writable again');
      alerts.resolve('alert.audit_unwritable');
    },
  });
  closers.add(() => audit.close());
  // The message log's index (store/redis-message-log.ts), written beside each message's record.
  const indexedAudit = new IndexedAudit(
    audit,
    new RedisMessageIndex(redis, n.redisPrefix, config.party, config.records.messageLogDays * 86_400),
    log,
  );
  const keyProblem = identifierKeyProblem(config.policy.identifierKey);
  if (config.policy.identifierKey === undefined) {
    log.warn('policy.identifierKey is not set: the export gate checks declared references only (Art. 11(2))');
  } else if (keyProblem !== undefined) {
    // Refused with NODE_ENV=production (config-production.ts); outside it, said once at start.
    log.warn(
      `policy.identifierKey: ${keyProblem}; whoever reads Redis can test guessed identifiers against it. Never in production: ${IDENTIFIER_KEY_HOWTO}`,
    );
  }
  const local = await openBroker('local', config, log);
  closers.add(() => local.close());
  const peer = await openBroker('peer', config, log);
  closers.add(() => peer.close());
  await declareTopology(local, config);

  closers.add(watchPeerLink(peer, alerts, config.alerts.peerDownAfterS));
  outboxFollowsPeer(local, peer, n.outbox);
  // The guard is built once the pipelines exist; the state reaches it through this holder.
  const loss: { guard?: RedisLossGuard } = {};
  const state = new RedisMessageState(redis, n.redisPrefix, {
    key: generation.key,
    field: generation.field,
    records: () => audit.recordsWritten(),
    floor: () => loss.guard?.floor() ?? 0,
    claims: () => loss.guard?.claims() ?? 0,
    advanced: (records) => loss.guard?.advanced(records),
    onLost: () => loss.guard?.lost(),
  });
  const ledger = new RedisLedger(redis, n.redisPrefix, config.policy.identifierRetentionDays * 86_400);
  const reviews = new RedisReviews(redis, n.redisPrefix);
  const suspensions = new RedisSuspensions(redis, n.redisPrefix);
  // Open dead letters: those a late receipt resolved stay in accord.dlq as evidence but count no more.
  const resolvedLetters = new RedisDeadLetterMarks(redis, n.redisPrefix);
  const openLetters = async () => {
    const depth = await local.messageCount(n.dlq);
    return depth === undefined ? undefined : Math.max(0, depth - (await resolvedLetters.resolvedCount()));
  };
  // The peer gateway's liveness: heartbeats both ways (src/jobs/peer-heartbeat.ts); sending starts
  // once the pipelines' context exists, below.
  const liveness = new PeerHeartbeat({
    intervalS: config.alerts.heartbeatIntervalS,
    silentAfterS: config.alerts.peerSilentAfterS,
    peerReady: () => peer.exchangeExists(peerNames.peerExchange),
    peer,
    local,
    redis,
    redisPrefix: n.redisPrefix,
    alerts,
    log,
    now,
  });
  const metrics = new GatewayMetrics(
    { version: accordVersion(), party: config.party, namespace: config.namespace ?? '' },
    {
      dlqDepth: openLetters,
      peerLinkUp: () => peer.isUp,
      localBrokerUp: () => local.isUp,
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
          expiresAtMs: Date.parse(k.exp),
        })),
      backlog: () => local.backlog(ownQueues(config)),
      peerLastHeard: () => liveness.lastHeard,
      keysUsable: () => keys.unusable() === undefined,
      openAlerts: () => alerts.openAlerts(),
    },
    now,
  );
  local.countWith(metrics.brokerTally(localPublishKind(n)));
  peer.countWith(metrics.brokerTally(peerPublishKind(peerNames)));
  // Everything for the peer goes to its ingress through its peer exchange.
  const peerLink = {
    publish: (queue: string, content: Buffer, props: PublishProps) =>
      peer.publishVia(peerNames.peerExchange, queue, content, props),
  };
  const timers = new BullReceiptTimer({
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
    now,
  });
  closers.add(() => timers.close());
  const deadlines = new BullDeadlines({
    names: n,
    redis,
    connection: bullRedis,
    local,
    log,
    alerts,
    now,
    sweepIntervalMs: config.dataProtection.sweepIntervalMs,
  });
  closers.add(() => deadlines.close());
  const orders = new DestructionOrders({ config, names: n, ledger, deadlines, local, log, now });
  deadlines.onDue('destruction-due', (d) => orders.deadline(d));
  deadlines.onDue('termination-effective', (d) => orders.termination(d));
  // Resolves claims left pending by a crash between commit and mark, and is the cluster-wide barrier a
  // copy that comes back waits on (inbound.ts, transport/delivered-log.ts).
  const deliveredLog = new DeliveredLogBarrier({
    queue: n.deliveredLog,
    legacyQueue: n.legacyDeliveredLog,
    broker: local,
    state,
    marks: new RedisProbeMarks(redis, n.redisPrefix, PROBE_MARK_TTL_S),
    log,
  });
  const directory = new RedisDirectory(redis, n.redisPrefix);
  const peerAuthorities = new Set<string>();
  closers.add(await watchDirectory({ config, directory, redis, peerAuthorities, log }));
  // In-band key announcements and revocations (src/keys/exchange.ts).
  const keyExchange = new GatewayKeyExchange({ config, ring: keys, redis, prefix: n.redisPrefix, log, now });
  const crypto = cryptoRunner({
    workers: config.crypto.workers,
    jobTimeoutMs: config.crypto.workerTimeoutMs,
    jobsPerWorker: config.crypto.jobsPerWorker,
    onReplaced: (info) => log.error(info, 'a crypto worker was replaced; its message is retried'),
  });
  closers.add(() => crypto.close());
  const wire = new PeerWire(config.transfers, log);
  const ctx: GatewayContext = {
    config,
    wire,
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
      audit: indexedAudit,
      keyExchange,
      metrics,
      liveness,
      log,
      now,
    },
    ownAuthorities: new Set(config.authorities.map((a) => a.id)),
    peerAuthorities,
    hooks: hooks.hooks,
  };
  closers.add(await keepRecords(config, audit, redis, n.redisPrefix, log));
  keyExchange.attach(ctx);
  closers.add(
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
  const guardRedis = new RedisLossGuard({
    generation,
    seenKey: (id) => `${n.redisPrefix}seen:${id}`,
    sentKey: (id) => `${n.redisPrefix}sent:${id}`,
    auditFile: auditFileOf(config),
    recordsWritten: () => audit.recordsWritten(),
    config,
    uncommitted: () => inbound.uncommittedIntakes(),
    alerts,
    log,
    now,
  });
  loss.guard = guardRedis;
  const guard = {
    ctx,
    poison: new PoisonCounter(config.delivery.poisonAttempts),
    connectionsDown: () => !local.isUp || !peer.isUp || redis.status !== 'ready',
    log,
  };
  const onError = (stage: string) => (err: unknown) =>
    log.error({ stage, err: (err as Error)?.message }, 'consumer failure; the message is requeued');
  const admission = { concurrency: config.amqp.concurrency, urgent: isUrgent };
  // Upgrades: nothing is consumed beside a replica of an older version (src/jobs/version-fence.ts).
  await waitForOlderReplicas(local, n.legacyDeliveredLog, log);
  // Redis lost data while the gateway was down: rebuilt before anything is taken in.
  await guardRedis.start(emptyAtStart);
  closers.add(() => guardRedis.stop());
  await local.consumeTx(
    n.outbox,
    config.amqp.prefetch,
    guarded(
      { ...guard, stage: 'outbox', onPark: (m) => outbound.abandon(m) },
      guardRedis.gate((m, tx) => outbound.handle(m, tx)),
    ),
    onError('outbox'),
    admission,
  );
  await local.consumeTx(
    n.ingress,
    config.amqp.prefetch,
    guarded(
      { ...guard, stage: 'ingress' },
      guardRedis.gate((m, tx) => inbound.handle(m, tx)),
    ),
    onError('ingress'),
    admission,
  );
  // Every replica consumes the delivered-log; the broker lets one at a time apply its lines.
  closers.add(() => deliveredLog.stop());
  await deliveredLog.start((err: unknown) =>
    log.error(
      { stage: 'delivered-log', err: (err as Error)?.message },
      'a delivered-log line could not be applied; retrying it in place',
    ),
  );
  timers.start();
  deadlines.start();
  liveness.start(() => sendHeartbeat(ctx, config.alerts.heartbeatIntervalS));
  closers.add(() => liveness.stop());
  closers.add(
    watchConditions(
      {
        keysUnusable: () => {
          const problem = keys.unusableError();
          return problem === undefined ? undefined : unusableFacts(problem);
        },
        dlqDepth: () => local.messageCount(n.dlq),
      },
      {
        everyS: config.alerts.heartbeatIntervalS,
        dlqDepthAbove: config.alerts.dlqDepthAbove,
        alerts,
        log,
      },
    ),
  );
  // Keys rotated or revoked while the gateway was down are announced now, and again whenever the peer
  // link comes back (what could not be sent during an outage; sendPending skips what was sent).
  void keyExchange.sendPending();
  peer.on('up', () => void keyExchange.sendPending());
  // What the peer reads (wire version 2 or 1) is learnt from a heartbeat, now and after each outage.
  wire.heartbeat = async () => {
    // Never to an exchange that is not there: that would close the peer link's channel.
    if (await peer.exchangeExists(peerNames.peerExchange)) {
      await sendHeartbeat(ctx, config.alerts.heartbeatIntervalS);
    }
  };
  ctx.wire.nudge();
  peer.on('up', () => ctx.wire.nudge());

  let adminAddress: AddressInfo | undefined;
  if (admin) {
    // One instance: its operations take turns (each takes the letters off the queue while it runs).
    const letters = new DeadLetters({
      names: n,
      connect: () => connectBroker(config.amqp, { name: 'accord-dlq-admin' }),
      brokerUser: brokerUser(config.amqp),
      redis,
      record: async (input) => void (await audit.append(input)),
      actor: (action) => `admin API ${action}`,
    });
    const server = await AdminServer.start({
      host: admin.host,
      port: admin.port,
      token: admin.token,
      ...(admin.tls
        ? { tls: { cert: readFileSync(admin.tls.certFile), key: readFileSync(admin.tls.keyFile) } }
        : {}),
      secureCookies: admin.secureCookies,
      session: { idleS: admin.sessionIdleMinutes * 60, maxS: admin.sessionMaxHours * 3600 },
      registry: metrics.registry,
      alerts,
      log,
      checks: {
        'local-broker': () => Promise.resolve(local.isUp ? undefined : 'not connected'),
        'peer-broker': () => Promise.resolve(peer.isUp ? undefined : 'not connected'),
        redis: async () => ((await redis.ping()) === 'PONG' ? undefined : 'no PONG'),
        keys: () => Promise.resolve(keys.unusable()),
        'audit-log': () => audit.unwritable(),
      },
      // The dashboard at / and /api/summary (src/admin/dashboard.ts).
      dashboard: {
        party: config.party,
        now,
        links: { peer: new LinkWatch(peer, now), local: new LinkWatch(local, now) },
        metrics,
        alerts,
        keys,
        dlqDepth: openLetters,
        pendingReviews: () => reviews.pending(),
        suspensions,
        // Every queue of this gateway: ready in the broker, and held unacked by this process's consumers.
        backlogs: () => local.backlog(ownQueues(config)),
      },
      // The dead letters as JSON (GET /api/dlq, POST /api/dlq/<ref>/replay | drop), as `accord dlq`;
      // the message log as JSON (GET /api/messages, /api/trace/<id>), as `accord messages` and `trace`;
      // both on the console's pages (/dead-letters, /messages).
      api: dlqApi(letters),
      messageLog: { redis, prefix: n.redisPrefix, trace: (id) => traceMessage(redis, config, id) },
      console: {
        deadLetters: consoleLetters(letters),
        ...consoleMessages(redis, n.redisPrefix, config),
      },
    });
    adminAddress = server.address;
    closers.add(() => server.close());
  }
  return { intake: [local, peer], closers, adminAddress, wireVersion: () => ctx.wire.version };
}
