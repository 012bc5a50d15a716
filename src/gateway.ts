/**
 * One gateway: connects to its broker, the peer's broker and Redis, declares its topology, and runs the
 * outbound and inbound pipelines. Built from a checked config by the composition root (cli/start, the
 * demo, the tests); `stop()` is memoised and closes everything in order.
 */
import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { names, type Config } from './config.js';
import { KeyRing } from './crypto/keyring.js';
import { AccordError, asAccordError } from './errors.js';
import type { GatewayContext } from './pipeline/context.js';
import { InboundPipeline } from './pipeline/inbound.js';
import { OutboundPipeline } from './pipeline/outbound.js';
import { RedisMessageState } from './store/redis-state.js';
import { AmqpConnection } from './transport/amqp.js';

/** Every queue this gateway owns on its local broker. */
export function ownQueues(config: Config): string[] {
  const n = names(config.namespace);
  return [n.outbox, n.ingress, n.dlq, ...config.authorities.flatMap((a) => [n.inbox(a.id), n.events(a.id)])];
}

/** Queue arguments: priorities so urgent requests (Art. 9(1)) overtake queued bulk traffic. */
export const QUEUE_ARGS = { 'x-max-priority': 10 };

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

export class Gateway extends EventEmitter {
  private stopped: Promise<void> | undefined;

  private constructor(
    readonly config: Config,
    private readonly local: AmqpConnection,
    private readonly peer: AmqpConnection,
    private readonly redis: Redis,
    private readonly log: Logger,
  ) {
    super();
  }

  /** Connect, declare the topology and start consuming. */
  static async start(config: Config, log: Logger, now: () => Date = () => new Date()): Promise<Gateway> {
    const n = names(config.namespace);
    const keys = await KeyRing.load(config.keys.privateJwks, config.peer.publicJwks);
    const redis = new Redis(config.redis.url, {
      lazyConnect: true,
      maxRetriesPerRequest: 3,
      enableOfflineQueue: true,
    });
    redis.on('error', (err: Error) => log.warn({ err: err.message }, 'redis error'));
    try {
      await redis.connect();
    } catch (err) {
      redis.disconnect();
      throw new AccordError(
        'infra.unavailable',
        `cannot connect to Redis at ${redactUrl(config.redis.url)}`,
        {
          cause: err,
        },
      );
    }
    const closeRedis = () => redis.disconnect();
    let local: AmqpConnection | undefined;
    let peer: AmqpConnection | undefined;
    try {
      for (const w of await checkRedis(redis)) log.warn(w);
      const amqpOpts = { heartbeatS: config.amqp.heartbeatS, confirmTimeoutMs: config.amqp.confirmTimeoutMs };
      local = await AmqpConnection.open({
        ...amqpOpts,
        url: config.amqp.url,
        name: `accord-${config.party}-local`,
      });
      peer = await AmqpConnection.open({
        ...amqpOpts,
        url: config.peer.amqpUrl,
        name: `accord-${config.party}-peer`,
      });
      await local.assertQueues(ownQueues(config), QUEUE_ARGS);

      const ctx: GatewayContext = {
        config,
        names: n,
        peerNames: names(config.peer.namespace),
        keys,
        profile: config.crypto,
        deps: { local, peer, state: new RedisMessageState(redis, n.redisPrefix), log, now },
        ownAuthorities: new Set(config.authorities.map((a) => a.id)),
        peerAuthorities: new Set(config.peer.authorities.map((a) => a.id)),
      };
      const gw = new Gateway(config, local, peer, redis, log);
      for (const c of [local, peer]) c.on('lost', (err: Error) => gw.emit('lost', err));

      const outbound = new OutboundPipeline(ctx);
      const inbound = new InboundPipeline(ctx);
      const onError = (stage: string) => (err: unknown) => {
        const e = asAccordError(err);
        log.error({ stage, code: e.code, err: e.message }, 'processing failed; the message is requeued');
      };
      await local.consume(
        n.outbox,
        config.amqp.prefetch,
        async (m) => (await outbound.handle(m.content), 'ack'),
        onError('outbound'),
      );
      await local.consume(
        n.ingress,
        config.amqp.prefetch,
        async (m) => (await inbound.handle(m.content), 'ack'),
        onError('inbound'),
      );
      log.info(
        { party: config.party, namespace: config.namespace, outbox: n.outbox, ingress: n.ingress },
        'gateway started',
      );
      return gw;
    } catch (err) {
      await local?.close();
      await peer?.close();
      closeRedis();
      throw err;
    }
  }

  /** Stop consuming and close every connection; safe to call more than once. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      await this.local.close();
      await this.peer.close();
      this.redis.disconnect();
      this.log.info({ party: this.config.party }, 'gateway stopped');
    })();
    return this.stopped;
  }
}

/** A URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}
