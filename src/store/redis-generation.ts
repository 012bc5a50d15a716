/**
 * The generation marker: one hash, `<prefix>generation`, with a field per gateway process (per audit
 * file) holding how many of that process's Art. 10(6) records the Redis data covers, and beside it
 * (`<field>:claims`) how many claims that process made (src/store/redis-state.ts). A Redis that
 * lost its data (FLUSHALL, a restart without AOF) has lost the field; one restored from an older
 * snapshot holds a lower count than the process last wrote. Either way the gateway rebuilds from its
 * audit records (src/jobs/redis-loss.ts). The writes of the rebuild are here: de-duplication records
 * of messages taken in, and sent records of messages sent, each only where none exists.
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { Redis } from 'ioredis';
import type { SentRecord } from '../pipeline/ports.js';

/** The marker key of a namespace. */
export function generationKey(prefix: string): string {
  return `${prefix}generation`;
}

/** The field of one gateway process: its host and audit file (each replica writes its own file). */
export function generationField(auditFile: string): string {
  const id = createHash('sha256')
    .update(`${hostname()}:${resolve(auditFile)}`)
    .digest('hex');
  return `audit:${id.slice(0, 16)}`;
}

/**
 * KEYS[1] marker; ARGV: field, records now, records last recorded by this process, its claims counted
 * (redis-state.ts). Returns -1 when the field is gone, the recorded count when it or the claims count
 * is below what this process knows it wrote (an older snapshot), else records the new count (never
 * lowering it) and returns -2.
 */
const ADVANCE = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return -1 end
local claims = redis.call('HGET', KEYS[1], ARGV[1] .. ':claims') or '0'
if tonumber(cur) < tonumber(ARGV[3]) or tonumber(claims) < tonumber(ARGV[4]) then return tonumber(cur) end
if tonumber(ARGV[2]) > tonumber(cur) then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return -2
`;

/** KEYS[1] seen key; ARGV: kind, fromAuthority, toAuthority, ttlS. 1 when written, 0 when one exists. */
const SEEN_STUB = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'state', 'delivered', 'copy', '', 'jweSha256', '', 'receiptJwe', '', 'kind', ARGV[1],
  'fromAuthority', ARGV[2], 'toAuthority', ARGV[3], 'rebuilt', '1')
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return 1
`;

/** KEYS[1] sent key; ARGV: rec (JSON), sentAt, ttlS. 1 when written, 0 when a sealed record exists. */
const SENT_STUB = `
if redis.call('HEXISTS', KEYS[1], 'rec') == 1 then return 0 end
redis.call('HSET', KEYS[1], 'rec', ARGV[1], 'rebuilt', '1')
redis.call('HSETNX', KEYS[1], 'sentAt', ARGV[2])
redis.call('HSETNX', KEYS[1], 'claimedAt', ARGV[2])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
`;

/** What the marker says about this process's records. */
export type MarkerState = { state: 'current' } | { state: 'gone' } | { state: 'behind'; covered: number };

/** A message taken in, as the audit records know it. */
export interface TakenIn {
  id: string;
  kind: string;
  fromAuthority: string;
  toAuthority: string;
  ttlS: number;
}

/** A message sent, as the audit records know it. */
export interface Sent {
  id: string;
  kind: string;
  /** The sending authority (this party's, without the party). */
  from: string;
  toParty: string;
  toAuthority: string;
  sentAt: string;
  ttlS: number;
}

export class RedisGeneration {
  readonly key: string;

  constructor(
    private readonly redis: Redis,
    readonly prefix: string,
    readonly field: string,
  ) {
    this.key = generationKey(prefix);
  }

  /** Compare the marker with this process's records, and record `records` when it is current. */
  async advance(records: number, lastRecorded: number, claims: number): Promise<MarkerState> {
    const r = Number(await this.redis.eval(ADVANCE, 1, this.key, this.field, records, lastRecorded, claims));
    if (r === -1) return { state: 'gone' };
    if (r === -2) return { state: 'current' };
    return { state: 'behind', covered: r };
  }

  /** Whether the namespace holds no key at all (asked at start, before the gateway writes any). */
  async namespaceEmpty(): Promise<boolean> {
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${this.prefix}*`, 'COUNT', 1000);
      if (keys.length > 0) return false;
      cursor = next;
    } while (cursor !== '0');
    return true;
  }

  /**
   * Record that the data covers `records` of this process's records and `claims` of its claims (after
   * a rebuild, or at first start).
   */
  async record(records: number, claims: number): Promise<void> {
    await this.redis.hset(this.key, this.field, records, `${this.field}:claims`, claims);
  }

  /** Write a de-duplication record for each message, where none exists; returns how many were written. */
  async rebuildTakenIn(items: readonly TakenIn[], seenKey: (id: string) => string): Promise<number> {
    return this.batched(items, (m, i) =>
      m.eval(SEEN_STUB, 1, seenKey(i.id), i.kind, i.fromAuthority, i.toAuthority, i.ttlS),
    );
  }

  /** Write a sent record (no sealed copy) for each message, where none exists; returns how many were. */
  async rebuildSent(items: readonly Sent[], sentKey: (id: string) => string): Promise<number> {
    return this.batched(items, (m, i) => {
      const rec: SentRecord = {
        jwe: '',
        jweSha256: '',
        from: i.from,
        idempotencyKey: '',
        kind: i.kind,
        toParty: i.toParty,
        toAuthority: i.toAuthority,
        sealedAt: i.sentAt,
      };
      return m.eval(SENT_STUB, 1, sentKey(i.id), JSON.stringify(rec), i.sentAt, i.ttlS);
    });
  }

  private async batched<T>(
    items: readonly T[],
    add: (m: ReturnType<Redis['pipeline']>, item: T) => unknown,
  ): Promise<number> {
    let written = 0;
    for (let at = 0; at < items.length; at += 500) {
      const m = this.redis.pipeline();
      for (const item of items.slice(at, at + 500)) add(m, item);
      for (const [err, r] of (await m.exec()) ?? []) {
        if (err) throw err;
        if (r === 1) written++;
      }
    }
    return written;
  }
}
