/** {@link MessageState} on Redis: one hash per message id, expiring after the message's lifetime. */
import type { Redis } from 'ioredis';
import { AccordError } from '../errors.js';
import type {
  Claim,
  HoldRecord,
  MessageState,
  SealedCopy,
  SeenRecord,
  SentRecord,
} from '../pipeline/ports.js';
import type { GateConsent, ProvenanceStore } from '../policy/onward-transfer.js';
import type { SuspensionEntry, SuspensionStore } from '../policy/suspension.js';
import type { ProbeMarks } from '../transport/delivered-log.js';
import { LETTER_GONE_FIELD, resolvedKey } from './redis-dead-letters.js';
import { messageLogKeys } from './redis-message-log.js';

/**
 * The generation check that opens the scripts which create state (src/store/redis-generation.ts):
 * KEYS[2] is the marker, ARGV[n] this process's field, ARGV[n+1] how many audit records it has written,
 * ARGV[n+2] the most it recorded in the field before and ARGV[n+3] how many of these scripts of its own
 * got through (counted in the field `<field>:claims`). A field gone (FLUSHALL, a restart without AOF) or
 * below what this process knows it wrote (an older snapshot restored) means Redis lost data since the
 * gateway last rebuilt: nothing is written until it has rebuilt again. Otherwise the field is raised to
 * the record count and the claims counted, so a snapshot taken at any moment says which records its
 * data may lack. An empty field name skips the check (a MessageState without a marker, as in tools).
 */
function markerCheck(n: number): string {
  return `if ARGV[${n}] ~= '' then
  local g = redis.call('HGET', KEYS[2], ARGV[${n}])
  local c = redis.call('HGET', KEYS[2], ARGV[${n}] .. ':claims') or '0'
  if not g or tonumber(g) < tonumber(ARGV[${n + 2}]) or tonumber(c) < tonumber(ARGV[${n + 3}]) then
    return {'lost'}
  end
  if tonumber(ARGV[${n + 1}]) > tonumber(g) then redis.call('HSET', KEYS[2], ARGV[${n}], ARGV[${n + 1}]) end
  redis.call('HINCRBY', KEYS[2], ARGV[${n}] .. ':claims', 1)
end
`;
}

/**
 * Claim a delivery: create the pending record when there is none; otherwise report the record.
 * KEYS[1] seen key, KEYS[2] generation marker; ARGV: copy, jweSha256, receiptJwe, ttlS, kind,
 * fromAuthority, toAuthority, marker field. Returns the outcome and the record (`lost` after a loss).
 */
const CLAIM = `${markerCheck(8)}
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  redis.call('HSET', KEYS[1], 'state', 'pending', 'copy', ARGV[1], 'jweSha256', ARGV[2], 'receiptJwe', ARGV[3],
    'kind', ARGV[5], 'fromAuthority', ARGV[6], 'toAuthority', ARGV[7])
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
  return {'claimed'}
end
local rec = redis.call('HMGET', KEYS[1], 'copy', 'jweSha256', 'receiptJwe', 'kind', 'fromAuthority', 'toAuthority',
  'rebuilt')
local outcome = 'other-copy'
if state == 'delivered' then outcome = 'delivered' elseif rec[1] == ARGV[1] then outcome = 'same-copy' end
return {outcome, rec[1], rec[2], rec[3], rec[4], rec[5], rec[6], rec[7] or ''}
`;

/**
 * Claim the sending of a message: set the claim field of its sent hash when it has none, and give a
 * new hash its expiry. KEYS[1] sent key, KEYS[2] generation marker; ARGV: claimedAt, ttlS, marker
 * field. Returns 1 for the claim, 0 when taken, {'lost'} after a loss.
 */
const CLAIM_SENDING = `${markerCheck(3)}
if redis.call('HSETNX', KEYS[1], 'claimedAt', ARGV[1]) == 0 then return 0 end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]), 'NX')
return 1
`;

/** Drop the claim field of a sent hash that has no sentAt. KEYS[1] sent key. Returns 1 when dropped. */
const RELEASE_SENDING = `
if redis.call('HEXISTS', KEYS[1], 'sentAt') == 1 then return 0 end
return redis.call('HDEL', KEYS[1], 'claimedAt')
`;

/**
 * Art. 10(4): start a hold unless one is recorded. KEYS[1] hold key; ARGV: since, ttlS. Returns the
 * recorded since and told fields.
 */
const START_HOLD = `
if redis.call('HSETNX', KEYS[1], 'since', ARGV[1]) == 1 then
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
end
return redis.call('HMGET', KEYS[1], 'since', 'told')
`;

/**
 * Mark a sent message delivered, once; when it had failed (its `delivery.no_receipt` letter is in
 * accord.dlq, and was not dropped), record the letter resolved in the same step. KEYS[1] sent key,
 * KEYS[2] resolved hash; ARGV: deliveredAt, id. Returns 1 the first time.
 */
const MARK_DELIVERED = `
if redis.call('HSETNX', KEYS[1], 'deliveredAt', ARGV[1]) == 0 then return 0 end
if redis.call('HEXISTS', KEYS[1], 'failedAt') == 1 and redis.call('HEXISTS', KEYS[1], ARGV[3]) == 0 then
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
end
return 1
`;

/**
 * Mark a sent message failed, once, and add it to the message log's set of failed messages with the
 * time its record has in the log (trimmed to the log's oldest entry). KEYS[1] sent key, KEYS[2] the
 * log's set of all messages, KEYS[3] its failed set; ARGV: failedAt, id. Returns 1 the first time.
 */
const MARK_FAILED = `
if redis.call('HSETNX', KEYS[1], 'failedAt', ARGV[1]) == 0 then return 0 end
local at = redis.call('ZSCORE', KEYS[2], ARGV[2])
if at then
  redis.call('ZADD', KEYS[3], at, ARGV[2])
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  if oldest[2] then redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. oldest[2]) end
end
return 1
`;
/** Where a MessageState finds the generation marker, and whom it tells when the marker is gone. */
export interface GenerationWatch {
  /** The marker key and this process's field in it (src/store/redis-generation.ts). */
  key: string;
  field: string;
  /** How many audit records this process has written. */
  records: () => number;
  /** The most this process recorded in its field: a lower field is an older snapshot. */
  floor: () => number;
  /** How many claim scripts of this process got through (a lower count in Redis is an older snapshot). */
  claims: () => number;
  /** A claim script got through, having raised the field to `records`. */
  advanced: (records: number) => void;
  /** Redis lost its data: called once per script that found the marker gone or behind. */
  onLost: () => void;
}

/**
 * The write-once `rec` field of a sent record: everything but sentAt/deliveredAt/failedAt, which are
 * fields of their own, each written once.
 */
function recField(rec: SentRecord): string {
  const { sentAt: _s, deliveredAt: _d, failedAt: _f, ...immutable } = rec;
  return JSON.stringify(immutable);
}

/**
 * Store a transfer and its members' records all or nothing: when any member already has a record
 * (another attempt stored it first), nothing is written and their positions (1-based) come back.
 */
const PUT_TRANSFER = `
local taken = {}
for i = 2, #KEYS do
  if redis.call('HEXISTS', KEYS[i], 'rec') == 1 then table.insert(taken, i - 1) end
end
if #taken > 0 then return taken end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
for i = 2, #KEYS do
  redis.call('HSET', KEYS[i], 'rec', ARGV[2 * i - 1])
  redis.call('EXPIRE', KEYS[i], ARGV[2 * i], 'NX')
end
return {}
`;

export class RedisMessageState implements MessageState {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly generation?: GenerationWatch,
  ) {}

  /** The marker key and the check's arguments (src/store/redis-generation.ts; a field of '' skips it). */
  private markerArgs(): [string, string, number, number, number] {
    const g = this.generation;
    return [
      g?.key ?? `${this.prefix}generation`,
      g?.field ?? '',
      g?.records() ?? 0,
      g?.floor() ?? 0,
      g?.claims() ?? 0,
    ];
  }

  /** A script found the marker gone: the caller's message waits (retry) and the gateway rebuilds. */
  private lost(): never {
    this.generation?.onLost();
    throw new AccordError(
      'infra.unavailable',
      'Redis lost its data (its generation marker is gone); the message waits until the gateway has rebuilt its state',
    );
  }

  private sentKey(id: string) {
    return `${this.prefix}sent:${id}`;
  }
  private seenKey(id: string) {
    return `${this.prefix}seen:${id}`;
  }
  private holdKey(id: string) {
    return `${this.prefix}hold:${id}`;
  }

  async putSealed(id: string, rec: SentRecord, ttlS: number): Promise<SentRecord> {
    const key = this.sentKey(id);
    // The sealed record is one field written with HSETNX, so a concurrent or repeated attempt either
    // wins whole or reads the winner's record; sentAt/deliveredAt/failedAt are separate write-once fields.
    const results = await this.redis.multi().hsetnx(key, 'rec', recField(rec)).expire(key, ttlS, 'NX').exec();
    const won = results?.[0]?.[1] === 1;
    if (won) return rec;
    return (await this.getSent(id)) ?? rec;
  }

  private transferKey(transfer: string) {
    return `${this.prefix}transfer:${transfer}`;
  }

  /**
   * Store a sealed transfer once and each member's record pointing to it, write-once like
   * {@link putSealed}, in one round trip. Returns the ids whose record another attempt wrote first
   * (they must not be sent in this transfer: their receipt would name another leaf).
   */
  async putTransfer(
    transfer: string,
    jwe: string,
    members: readonly { id: string; rec: SentRecord; ttlS: number }[],
  ): Promise<string[]> {
    const ttlS = Math.max(...members.map((m) => m.ttlS));
    const args: (string | number)[] = [jwe, ttlS];
    for (const m of members) {
      args.push(recField(m.rec), m.ttlS);
    }
    const keys = [this.transferKey(transfer), ...members.map((m) => this.sentKey(m.id))];
    const taken = (await this.redis.eval(PUT_TRANSFER, keys.length, ...keys, ...args)) as number[];
    return taken.map((i) => members[i - 1]!.id);
  }

  /** The sealed bytes to send again for a record: its own JWE, or its transfer's. */
  async sealedCopy(rec: SentRecord): Promise<SealedCopy | null> {
    if (rec.jwe !== undefined) return { jwe: rec.jwe };
    if (rec.transfer === undefined) return null;
    const jwe = await this.redis.get(this.transferKey(rec.transfer));
    return jwe === null ? null : { jwe, transfer: rec.transfer };
  }

  /** Forget a stored transfer that never reached the peer (returned unroutable), with its members' records. */
  async forgetTransfer(transfer: string, ids: readonly string[]): Promise<void> {
    const multi = this.redis.multi().del(this.transferKey(transfer));
    for (const id of ids) multi.hdel(this.sentKey(id), 'rec', 'sentAt');
    await multi.exec();
  }

  async markSentMany(ids: readonly string[], at: string): Promise<void> {
    const multi = this.redis.multi();
    for (const id of ids) multi.hsetnx(this.sentKey(id), 'sentAt', at);
    await multi.exec();
  }

  async getSent(id: string): Promise<SentRecord | null> {
    const h = await this.redis.hgetall(this.sentKey(id));
    if (!h.rec) return null;
    const rec = JSON.parse(h.rec) as SentRecord;
    if (h.rebuilt === '1') rec.rebuilt = true;
    if (h.sentAt) rec.sentAt = h.sentAt;
    if (h.deliveredAt) rec.deliveredAt = h.deliveredAt;
    if (h.failedAt) rec.failedAt = h.failedAt;
    return rec;
  }

  async claimSending(id: string, ttlS: number): Promise<boolean> {
    const [marker, field, records, floor, claims] = this.markerArgs();
    const r = await this.redis.eval(
      CLAIM_SENDING,
      2,
      this.sentKey(id),
      marker,
      new Date().toISOString(),
      ttlS,
      field,
      records,
      floor,
      claims,
    );
    if (Array.isArray(r)) this.lost();
    this.generation?.advanced(records);
    return r === 1;
  }

  async releaseSending(id: string): Promise<boolean> {
    return (await this.redis.eval(RELEASE_SENDING, 1, this.sentKey(id))) === 1;
  }

  async markSent(id: string, at: string): Promise<void> {
    await this.redis.hsetnx(this.sentKey(id), 'sentAt', at);
  }

  async markDelivered(id: string, at: string): Promise<boolean> {
    const keys = [this.sentKey(id), resolvedKey(this.prefix)];
    return (await this.redis.eval(MARK_DELIVERED, 2, ...keys, at, id, LETTER_GONE_FIELD)) === 1;
  }

  async reopen(id: string): Promise<void> {
    await this.redis.hdel(this.sentKey(id), 'failedAt');
  }

  async markFailed(id: string, at: string): Promise<boolean> {
    const log = messageLogKeys(this.prefix);
    return (await this.redis.eval(MARK_FAILED, 3, this.sentKey(id), log.all, log.failed, at, id)) === 1;
  }

  async getSeen(id: string): Promise<SeenRecord | null> {
    const h = await this.redis.hgetall(this.seenKey(id));
    // A rebuilt record has no stored receipt (src/store/redis-generation.ts).
    if (!h.state || (!h.receiptJwe && h.rebuilt !== '1')) return null;
    const { attempt, rebuilt, ...rest } = h;
    return {
      ...(rest as unknown as SeenRecord),
      ...(attempt === undefined ? {} : { attempt: Number(attempt) }),
      ...(rebuilt === '1' ? { rebuilt: true } : {}),
    };
  }

  async claim(id: string, rec: Omit<SeenRecord, 'state'>, ttlS: number): Promise<Claim> {
    const [marker, field, records, floor, claims] = this.markerArgs();
    const r = (await this.redis.eval(
      CLAIM,
      2,
      this.seenKey(id),
      marker,
      rec.copy,
      rec.jweSha256,
      rec.receiptJwe,
      ttlS,
      rec.kind,
      rec.fromAuthority,
      rec.toAuthority,
      field,
      records,
      floor,
      claims,
    )) as string[];
    if (r[0] === 'lost') this.lost();
    this.generation?.advanced(records);
    const outcome = r[0] as Claim['outcome'];
    if (outcome === 'claimed') return { outcome };
    const record: SeenRecord = {
      state: outcome === 'delivered' ? 'delivered' : 'pending',
      copy: r[1] ?? '',
      jweSha256: r[2] ?? '',
      receiptJwe: r[3] ?? '',
      kind: r[4] ?? '',
      fromAuthority: r[5] ?? '',
      toAuthority: r[6] ?? '',
      ...(r[7] === '1' ? { rebuilt: true } : {}),
    };
    return { outcome, record };
  }

  async markSeenDelivered(id: string): Promise<void> {
    // Only an existing record changes state; an expired one stays gone.
    await this.redis.eval(
      `if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'state', 'delivered') end`,
      1,
      this.seenKey(id),
    );
  }

  async markNewAttempt(id: string): Promise<void> {
    await this.redis.eval(
      `if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HINCRBY', KEYS[1], 'attempt', 1) end`,
      1,
      this.seenKey(id),
    );
  }

  async getHold(id: string): Promise<HoldRecord | null> {
    const [since, told] = await this.redis.hmget(this.holdKey(id), 'since', 'told');
    return since ? { since, told: told === '1' } : null;
  }

  async startHold(id: string, since: string, ttlS: number): Promise<HoldRecord> {
    const [recorded, told] = (await this.redis.eval(START_HOLD, 1, this.holdKey(id), since, ttlS)) as (
      string | null
    )[];
    return { since: recorded ?? since, told: told === '1' };
  }

  async assertIntact(): Promise<void> {
    const [marker, field, , floor, claims] = this.markerArgs();
    if (field === '') return;
    const [g, c] = await this.redis.hmget(marker, field, `${field}:claims`);
    if (g === null || Number(g) < floor || Number(c ?? 0) < claims) this.lost();
  }

  async markHoldTold(id: string): Promise<void> {
    // Only an existing hold is marked; an expired one stays gone.
    await this.redis.eval(
      `if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'told', '1') end`,
      1,
      this.holdKey(id),
    );
  }
}

/** {@link ProbeMarks} on Redis: one short-lived key per delivered-log probe the active consumer reached. */
export class RedisProbeMarks implements ProbeMarks {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlS: number,
  ) {}

  private key(nonce: string): string {
    return `${this.prefix}log-probe:${nonce}`;
  }

  async record(nonce: string): Promise<void> {
    await this.redis.set(this.key(nonce), '1', 'EX', this.ttlS);
  }

  async isRecorded(nonce: string): Promise<boolean> {
    return (await this.redis.exists(this.key(nonce))) === 1;
  }
}

/** Add ARGV[1] (a message id) to every set in KEYS and give each the expiry ARGV[2] (seconds). */
const REMEMBER_IDENTIFIERS = `for _, key in ipairs(KEYS) do
  redis.call('SADD', key, ARGV[1])
  redis.call('EXPIRE', key, ARGV[2])
end`;

/** {@link ProvenanceStore} on Redis: identifier hashes as sets of message ids, consents as hashes. */
export class RedisProvenance implements ProvenanceStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  async rememberIdentifiers(messageId: string, hashes: string[], ttlS: number): Promise<void> {
    if (hashes.length === 0) return;
    // One script call, not two commands per identifier: a 256 KiB list of ~2,000 documents and
    // holders cost ~4,000 commands in a MULTI, a quarter of the receiving gateway's CPU.
    await this.redis.eval(
      REMEMBER_IDENTIFIERS,
      hashes.length,
      ...hashes.map((h) => `${this.prefix}idh:${h}`),
      messageId,
      ttlS,
    );
  }

  async originsOf(hash: string): Promise<string[]> {
    return this.redis.smembers(`${this.prefix}idh:${hash}`);
  }

  async recordConsent(
    reference: string,
    destination: string,
    validUntil: string,
    consentId: string,
  ): Promise<void> {
    const key = `${this.prefix}consent:${reference}`;
    // The latest expiry wins; a consent expires with its validity plus a day.
    const current = parseConsent(await this.redis.hget(key, destination));
    if (current !== undefined && Date.parse(current.validUntil) >= Date.parse(validUntil)) return;
    const ttlS = Math.max(60, Math.ceil((Date.parse(validUntil) - Date.now()) / 1000) + 86_400);
    const value = JSON.stringify({ validUntil, consentId });
    await this.redis.multi().hset(key, destination, value).expire(key, ttlS).exec();
  }

  async consentOf(reference: string, destination: string): Promise<GateConsent | undefined> {
    return parseConsent(await this.redis.hget(`${this.prefix}consent:${reference}`, destination));
  }
}

/**
 * A stored consent: `{"validUntil","consentId"}`, or — as earlier versions stored it — the bare
 * `validUntil`, with no consent id.
 */
function parseConsent(value: string | null): GateConsent | undefined {
  if (value === null) return undefined;
  if (!value.startsWith('{')) return { validUntil: value };
  const v = JSON.parse(value) as { validUntil?: unknown; consentId?: unknown };
  if (typeof v.validUntil !== 'string') return undefined;
  return { validUntil: v.validUntil, ...(typeof v.consentId === 'string' ? { consentId: v.consentId } : {}) };
}

/** {@link SuspensionStore} on Redis: one hash of notices by id, kept without expiry (Art. 17 is open-ended). */
export class RedisSuspensions implements SuspensionStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private get key() {
    return `${this.prefix}treaty:suspensions`;
  }

  async put(entry: SuspensionEntry): Promise<void> {
    await this.redis.hset(this.key, entry.id, JSON.stringify(entry));
  }

  async get(id: string): Promise<SuspensionEntry | undefined> {
    const v = await this.redis.hget(this.key, id);
    return v === null ? undefined : (JSON.parse(v) as SuspensionEntry);
  }

  async list(): Promise<SuspensionEntry[]> {
    return Object.values(await this.redis.hgetall(this.key)).map((v) => JSON.parse(v) as SuspensionEntry);
  }
}
