/**
 * The message log's index on Redis: what `accord messages` and `GET /api/messages` search. One row per
 * message (id, kind, direction, authorities, time, record type, refusal grounds — metadata only, as the
 * Art. 10(6) record holds it, never content), and sorted sets of message ids scored by the record's
 * time: one of all messages, one per authority (sender and recipient), one per kind. A query walks the
 * narrowest set newest first, so a filter by authority or kind over a time range reads only the
 * matching entries instead of the whole audit log.
 *
 * It is written where the record is: {@link IndexedAudit} wraps the audit log, and after a message's
 * record is durable it writes the row and the set entries in one pipelined round trip. The index is a
 * convenience beside the record, not a record: a failed index write is logged and the message goes on.
 * Rows expire after `retentionS`; set entries older than that are trimmed as new ones are written (each
 * set at most once a second).
 * One status has a set of its own, `failed`, rare and the one searched for: RedisMessageState adds a
 * message to it as it marks it failed (status is otherwise read from the state, admin/message-log.ts).
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { AuditInput, AuditRecord, AuditSink } from '../audit/log.js';

/** One message as the log shows it: metadata only. */
export interface MessageRow {
  id: string;
  kind: string;
  direction: 'in' | 'out';
  /** `PARTY/authority` */
  from: string;
  to: string;
  /** When its record was written (ISO 8601). */
  at: string;
  /** The Art. 10(6) record type (provision, receipt, refusal, …). */
  record: string;
  /** Refusal grounds as their codes, when the message gives any. */
  grounds?: string[];
  /** The message this one answers or refers to. */
  refersTo?: string;
}

/** The Redis keys of the index under a namespace's prefix. */
export function messageLogKeys(prefix: string) {
  return {
    row: (id: string) => `${prefix}msglog:row:${id}`,
    all: `${prefix}msglog:t`,
    authority: (authority: string) => `${prefix}msglog:a:${authority}`,
    kind: (kind: string) => `${prefix}msglog:k:${kind}`,
    /** Messages that got no receipt after the last resend: written when one is marked failed (redis-state.ts). */
    failed: `${prefix}msglog:s:failed`,
  };
}

/** The row of a message's record, or undefined for records that are not about one message sent or received. */
export function rowOf(rec: AuditRecord, party: string): MessageRow | undefined {
  const { messageId, kind, fromAuthority, toAuthority } = rec;
  if (
    messageId === undefined ||
    kind === undefined ||
    fromAuthority === undefined ||
    toAuthority === undefined
  )
    return undefined;
  if (!fromAuthority.includes('/') || !toAuthority.includes('/')) return undefined;
  const grounds = rec.reason?.startsWith('grounds: ') ? rec.reason.slice(9).split(', ') : undefined;
  return {
    id: messageId,
    kind,
    direction: fromAuthority.startsWith(`${party}/`) ? 'out' : 'in',
    from: fromAuthority,
    to: toAuthority,
    at: rec.time,
    record: rec.type,
    ...(grounds === undefined ? {} : { grounds }),
    ...(rec.refersTo === undefined ? {} : { refersTo: rec.refersTo }),
  };
}

/** The bare authority id of `PARTY/authority`. */
export const authorityOf = (address: string) => address.slice(address.indexOf('/') + 1);

/** How often a sorted set of the index is trimmed to the retention and its TTL renewed. */
const TRIM_EVERY_MS = 1000;

/** Writes the index (see the file comment). */
export class RedisMessageIndex {
  private readonly keys: ReturnType<typeof messageLogKeys>;
  /** When each sorted set was last trimmed and its TTL set (a few keys: all, per authority, per kind). */
  private readonly trimmedAt = new Map<string, number>();

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly party: string,
    private readonly retentionS: number,
  ) {
    this.keys = messageLogKeys(prefix);
  }

  /** Index the message a record is about; the first record of a message makes its row. */
  async record(rec: AuditRecord): Promise<void> {
    const row = rowOf(rec, this.party);
    if (row === undefined) return;
    const score = Date.parse(row.at);
    const horizon = `(${score - this.retentionS * 1000}`;
    const sets = [
      this.keys.all,
      this.keys.authority(authorityOf(row.from)),
      this.keys.authority(authorityOf(row.to)),
      this.keys.kind(row.kind),
    ];
    const p = this.redis
      .pipeline()
      .set(this.keys.row(row.id), JSON.stringify(row), 'EX', this.retentionS, 'NX');
    const now = Date.now();
    for (const key of new Set(sets)) {
      p.zadd(key, 'NX', score, row.id);
      // The trim to the retention and the TTL are upkeep: once a second per set is enough (they were
      // two of the three commands per set and message, most of a message's Redis commands).
      if ((this.trimmedAt.get(key) ?? 0) + TRIM_EVERY_MS <= now) {
        this.trimmedAt.set(key, now);
        p.zremrangebyscore(key, '-inf', horizon).expire(key, this.retentionS);
      }
    }
    const results = await p.exec();
    const failed = results?.find(([err]) => err !== null)?.[0];
    if (failed) throw failed;
  }
}

/**
 * The audit log with the message index beside it: `append` resolves with the durable record, after
 * the index write (which never fails the append).
 */
export class IndexedAudit implements AuditSink {
  private warned = false;

  constructor(
    private readonly audit: AuditSink,
    private readonly index: RedisMessageIndex,
    private readonly log: Logger,
  ) {}

  async append(input: AuditInput): Promise<AuditRecord> {
    const rec = await this.audit.append(input);
    try {
      await this.index.record(rec);
      this.warned = false;
    } catch (err) {
      // Once per failure spell: the record is written; only the search will miss this message.
      if (!this.warned) {
        this.log.warn(
          { err: (err as Error).message, messageId: rec.messageId },
          'the message log index could not be written; the audit record is',
        );
      }
      this.warned = true;
    }
    return rec;
  }

  latestCheckpointHash(): string | undefined {
    return this.audit.latestCheckpointHash();
  }
}
