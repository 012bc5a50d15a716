/**
 * The demo's two gateways: configs in their demo namespaces, a reachability check that says how to
 * start RabbitMQ and Redis, and clean-up. Shared by `npm run demo`, `npm run demo:gateways` and the
 * example case system.
 */
import { names, type Config } from '../config.js';
import { ownExchanges, ownQueues, retiredQueues } from '../topology.js';
import { redactUrl } from '../log.js';
import { IGNORE_REDIS_ERRORS, describeRedis, redisConnection } from '../store/redis-connect.js';
import { connectBroker } from '../transport/connect.js';
import { checkedPair, configPair, type PartyTag } from './config-pair.js';

export { ROOT } from './config-pair.js';

/** Namespaces are `<prefix>-cz` and `<prefix>-kz`; ACCORD_DEMO_PREFIX changes the prefix (tests do). */
export const DEMO_PREFIX = process.env.ACCORD_DEMO_PREFIX ?? 'demo';

/** The demo's two configs, the shipped ones in the demo namespaces. */
export function demoConfigs(): Record<PartyTag, Config> {
  return checkedPair(configPair(DEMO_PREFIX));
}

export async function reachable(cz: Config): Promise<string | undefined> {
  try {
    const c = await connectBroker(cz.amqp, { name: 'accord-demo-check', timeoutMs: 3000 });
    await c.close();
  } catch {
    return (
      `RabbitMQ is not reachable at ${redactUrl(cz.amqp.url)}.\n` +
      '  Start it with `rabbitmq-server -detached` (Debian package rabbitmq-server),\n' +
      '  or `docker compose up -d rabbitmq redis`; or point ACCORD_AMQP_URL at a running broker.'
    );
  }
  const redis = redisConnection(
    cz.redis,
    {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      sentinelRetryStrategy: () => null,
    },
    IGNORE_REDIS_ERRORS,
  );
  try {
    await redis.connect();
    await redis.ping();
  } catch {
    return (
      `${describeRedis(cz.redis)} is not reachable.\n` +
      '  Start it with `redis-server --daemonize yes --maxmemory-policy noeviction` (Debian package redis-server),\n' +
      '  or `docker compose up -d rabbitmq redis`; or point ACCORD_REDIS_URL at a running Redis.'
    );
  } finally {
    redis.disconnect();
  }
  return undefined;
}

export async function removeQueues(configs: Config[]): Promise<void> {
  const conn = await connectBroker(configs[0]!.amqp, { name: 'accord-demo-cleanup' });
  try {
    const ch = await conn.createChannel();
    for (const c of configs) for (const q of [...ownQueues(c), ...retiredQueues(c)]) await ch.deleteQueue(q);
    for (const c of configs) for (const e of ownExchanges(c)) await ch.deleteExchange(e);
  } finally {
    await conn.close();
  }
  const redis = redisConnection(configs[0]!.redis, {}, IGNORE_REDIS_ERRORS);
  try {
    for (const c of configs) {
      const keys = await redis.keys(`${names(c.namespace).redisPrefix}*`);
      if (keys.length > 0) await redis.del(...keys);
    }
  } finally {
    redis.disconnect();
  }
}

/** True when a gateway consumes this config's outbox (the demo gateways are running). */
export async function gatewayRunning(config: Config): Promise<boolean> {
  const conn = await connectBroker(config.amqp, { name: 'accord-demo-check' });
  try {
    const ch = await conn.createChannel();
    ch.on('error', () => undefined);
    try {
      return (await ch.checkQueue(names(config.namespace).outbox)).consumerCount > 0;
    } catch {
      return false;
    }
  } finally {
    await conn.close().catch(() => undefined);
  }
}
