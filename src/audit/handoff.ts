/**
 * Records made by the `accord` command while a gateway runs (key operations, dead letters dropped,
 * directory approvals): the audit log has one writer, the gateway, so the command hands each record
 * over through a Redis list, and the gateway appends it (at least once) and removes it. When no gateway
 * runs, the records wait in Redis until one starts.
 */
import { userInfo } from 'node:os';
import type { Redis } from 'ioredis';
import { IGNORE_REDIS_ERRORS, redisConnection, type RedisSettings } from '../store/redis-connect.js';
import type { Logger } from 'pino';
import { AccordError } from '../errors.js';
import { AuditInputSchema, type AuditInput, type AuditSink } from './log.js';

const listKey = (prefix: string) => `${prefix}audit:handoff`;
const takenKey = (prefix: string) => `${prefix}audit:handoff:taken`;
/** The channel that tells running gateways a record is waiting. */
export const handoffChannel = (prefix: string) => `${prefix}audit:handoff`;

/** Hand a record to the gateway's audit log (called by the CLI). */
export async function handOff(redis: Redis, prefix: string, input: AuditInput): Promise<void> {
  const rec = AuditInputSchema.parse(input);
  await redis.rpush(listKey(prefix), JSON.stringify(rec));
  await redis.publish(handoffChannel(prefix), 'record');
}

/**
 * Move every waiting record into the audit log. A record is moved to a `taken` list first and removed
 * only once appended, so a crash in between repeats it rather than losing it.
 */
export async function drainHandoff(
  redis: Redis,
  prefix: string,
  audit: AuditSink,
  log: Logger,
): Promise<number> {
  let n = 0;
  // Leftovers of an interrupted drain come first.
  for (const raw of await redis.lrange(takenKey(prefix), 0, -1)) {
    await appendRaw(raw, audit, log);
    await redis.lrem(takenKey(prefix), 1, raw);
    n++;
  }
  for (;;) {
    const raw = await redis.lmove(listKey(prefix), takenKey(prefix), 'LEFT', 'RIGHT');
    if (raw === null) return n;
    await appendRaw(raw, audit, log);
    await redis.lrem(takenKey(prefix), 1, raw);
    n++;
  }
}

async function appendRaw(raw: string, audit: AuditSink, log: Logger): Promise<void> {
  let data: unknown;
  try {
    data = raw.length <= 64 * 1024 ? JSON.parse(raw) : undefined;
  } catch {
    data = undefined;
  }
  const parsed = AuditInputSchema.safeParse(data);
  if (!parsed.success) {
    log.error({ code: 'schema.invalid' }, 'a handed-over audit record is invalid; dropped');
    return;
  }
  await audit.append(parsed.data);
}

/**
 * Hand a record made by the `accord` command to the gateway of `config` (the gateway appends it).
 * @throws AccordError `infra.unavailable` when Redis cannot be reached: the caller says so, since the
 *   operation's record is missing.
 */
export async function recordForGateway(
  config: { redis: RedisSettings; namespace?: string | undefined },
  prefix: string,
  input: AuditInput,
): Promise<void> {
  const redis = redisConnection(
    config.redis,
    { lazyConnect: true, maxRetriesPerRequest: 1 },
    IGNORE_REDIS_ERRORS,
  );
  try {
    await redis.connect();
    await handOff(redis, prefix, input);
  } catch (err) {
    throw new AccordError(
      'infra.unavailable',
      'the audit record could not be handed to the gateway (Redis)',
      {
        cause: err,
      },
    );
  } finally {
    redis.disconnect();
  }
}

/** Who ran the command, for a record's `decidedBy` (the OS account; no personal data beyond it). */
export function operatorName(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'unknown';
  }
}
