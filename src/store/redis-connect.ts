/**
 * The one place a Redis connection is made from the config: to the endpoint `redis.url` names or, with
 * `redis.sentinel`, to the primary the Sentinels name for the group, which ioredis follows through a
 * failover. Every caller (gateway, BullMQ timers, the `accord` command, the audit hand-off) comes here,
 * so both modes connect the same way everywhere.
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { Config } from '../config.js';
import { redactUrl } from '../log.js';
import { AccordError } from '../errors.js';

/** The `redis` slice of the config. */
export type RedisSettings = Config['redis'];

/**
 * What a caller may add to the connection (lazyConnect, retries, pipelining, timeouts); never where it
 * goes or as whom, which come from the config alone.
 */
export type RedisExtraOptions = Omit<
  RedisOptions,
  | 'host'
  | 'port'
  | 'path'
  | 'username'
  | 'password'
  | 'db'
  | 'tls'
  | 'sentinels'
  | 'name'
  | 'sentinelUsername'
  | 'sentinelPassword'
  | 'sentinelTLS'
  | 'enableTLSForSentinelMode'
>;

/** `host:port` (IPv6 in brackets), as the config schema checked it, to the address ioredis takes. */
function sentinelAddress(node: string): { host: string; port: number } {
  const colon = node.lastIndexOf(':');
  return { host: node.slice(0, colon).replace(/^\[(.*)\]$/, '$1'), port: Number(node.slice(colon + 1)) };
}

/**
 * The ioredis options of a Sentinel-mode connection: the Sentinels and the group name from
 * `redis.sentinel`; user, password, db number and TLS from `redis.url`, whose host and port are unused.
 */
export function sentinelOptions(
  settings: RedisSettings & { sentinel: NonNullable<RedisSettings['sentinel']> },
  extra: RedisExtraOptions = {},
): RedisOptions {
  const url = new URL(settings.url);
  const db = url.pathname.length > 1 ? Number(url.pathname.slice(1)) : undefined;
  const { name, nodes, password } = settings.sentinel;
  return {
    ...extra,
    sentinels: nodes.map(sentinelAddress),
    name,
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(db !== undefined && Number.isInteger(db) ? { db } : {}),
    ...(password !== undefined ? { sentinelPassword: password } : {}),
    // ioredis applies `tls` to the primary found through the Sentinels only with this flag.
    ...(url.protocol === 'rediss:' ? { tls: {}, enableTLSForSentinelMode: true } : {}),
  };
}

/**
 * What a connection does with its `error` events. ioredis emits one for every failed (re)connect and
 * prints "Unhandled error event" with a stack when nobody listens, so every connection gets a listener
 * the moment it is made: the gateway logs them; a one-shot command, which reports the failure of the
 * call it awaits, ignores them ({@link IGNORE_REDIS_ERRORS}).
 */
export type RedisErrorListener = (err: Error) => void;

/**
 * For a command that awaits each Redis call and reports its failure itself: the connection's `error`
 * events say the same again, so they are dropped.
 */
export const IGNORE_REDIS_ERRORS: RedisErrorListener = () => undefined;

/**
 * A connection to the configured Redis, with the caller's extra options and its `error` listener
 * attached before anything can fail. Not connected yet when `extra` says `lazyConnect`; the caller
 * owns it and disconnects it.
 */
export function redisConnection(
  settings: RedisSettings,
  extra: RedisExtraOptions,
  onError: RedisErrorListener,
): Redis {
  const { sentinel } = settings;
  const redis = sentinel
    ? new Redis(sentinelOptions({ ...settings, sentinel }, extra))
    : new Redis(settings.url, extra);
  redis.on('error', onError);
  return redis;
}

/**
 * A connected Redis for a one-off command (`accord trace`, `messages`, `dlq`, …): one try per command,
 * errors surface as the command's rejected call. Rejects with `infra.unavailable` when Redis cannot be
 * reached, having closed the connection; otherwise the caller disconnects it.
 */
export async function connectForCommand(settings: RedisSettings): Promise<Redis> {
  const redis = redisConnection(
    settings,
    { lazyConnect: true, maxRetriesPerRequest: 1 },
    IGNORE_REDIS_ERRORS,
  );
  try {
    await redis.connect();
    return redis;
  } catch (err) {
    redis.disconnect();
    throw new AccordError('infra.unavailable', `cannot reach Redis: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/**
 * A second connection like `redis` (ioredis `duplicate()`, e.g. for a subscriber, which can do nothing
 * else), with its own `error` listener: a duplicate does not inherit the original's listeners.
 */
export function duplicateConnection(redis: Redis, onError: RedisErrorListener): Redis {
  const copy = redis.duplicate();
  copy.on('error', onError);
  return copy;
}

/** Where the connection goes, for messages: no password. */
export function describeRedis(settings: RedisSettings): string {
  const { sentinel } = settings;
  if (!sentinel) return `Redis at ${redactUrl(settings.url)}`;
  return `the Redis primary of Sentinel group "${sentinel.name}" (Sentinels ${sentinel.nodes.join(', ')})`;
}

/**
 * Check that Redis keeps what BullMQ and the de-duplication keys rely on: `maxmemory-policy noeviction`
 * (the only policy under which keys are never dropped silently). Returns warnings for what is merely
 * unsafe outside development (no AOF); with `NODE_ENV=production` that refuses too.
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
