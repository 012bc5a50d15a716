/**
 * {@link Ledger} on Redis: what this gateway received from and provided to the peer, as metadata (ids,
 * kinds, authorities, deadlines — never content), kept long after the de-duplication records expire,
 * because a destruction deadline, a correction or a usage report may come months later. Received
 * messages with personal data stay in a sorted set by deadline until their destruction is confirmed.
 */
import type { Redis } from 'ioredis';
import type { Ledger, ProvidedRecord, ReceivedRecord, Termination } from '../pipeline/ports.js';

/** KEYS[1] record, KEYS[2] held set; ARGV: record JSON, ttlS, id, score (-1: no personal data). */
const RECEIVE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local score = tonumber(ARGV[4])
if score >= 0 then
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('ZADD', KEYS[2], score, ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
end
return 1
`;

/** KEYS[1] record, KEYS[2] held set; ARGV: id, at, reason, ttlS. Returns 1 the first time. */
const DESTROY = `
local raw = redis.call('GET', KEYS[1])
if not raw then return -1 end
local rec = cjson.decode(raw)
if rec.state == 'destroyed' then return 0 end
rec.state = 'destroyed'
rec.destroyedAt = ARGV[2]
rec.destroyReason = ARGV[3]
redis.call('SET', KEYS[1], cjson.encode(rec), 'EX', tonumber(ARGV[4]))
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`;

/** KEYS[1] record; ARGV: field, value. Sets one field of a stored record. */
const SET_FIELD = `
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local rec = cjson.decode(raw)
rec[ARGV[1]] = ARGV[2]
redis.call('SET', KEYS[1], cjson.encode(rec), 'KEEPTTL')
return 1
`;

export class RedisLedger implements Ledger {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    /** How long metadata are kept once nothing is held any more, in seconds. */
    private readonly retentionS: number,
  ) {}

  private inKey(id: string) {
    return `${this.prefix}ledger:in:${id}`;
  }
  private outKey(id: string) {
    return `${this.prefix}ledger:out:${id}`;
  }
  private get heldKey() {
    return `${this.prefix}ledger:personal-data-held`;
  }
  private get terminationKey() {
    return `${this.prefix}treaty:termination`;
  }

  async received(rec: Omit<ReceivedRecord, 'state'>): Promise<void> {
    const score = rec.personal ? Date.parse(rec.destroyBy ?? rec.receivedAt) : -1;
    await this.redis.eval(
      RECEIVE,
      2,
      this.inKey(rec.id),
      this.heldKey,
      JSON.stringify({ ...rec, state: 'held' }),
      this.retentionS,
      rec.id,
      score,
    );
  }

  async getReceived(id: string): Promise<ReceivedRecord | null> {
    const raw = await this.redis.get(this.inKey(id));
    return raw === null ? null : (JSON.parse(raw) as ReceivedRecord);
  }

  async markDestroyed(id: string, at: string, reason: string): Promise<'destroyed' | 'again' | 'unknown'> {
    const r = await this.redis.eval(
      DESTROY,
      2,
      this.inKey(id),
      this.heldKey,
      id,
      at,
      reason,
      this.retentionS,
    );
    return r === 1 ? 'destroyed' : r === 0 ? 'again' : 'unknown';
  }

  async noteOnReceived(id: string, field: 'erasureId', value: string): Promise<void> {
    await this.redis.eval(SET_FIELD, 1, this.inKey(id), field, value);
  }

  async personalDataHeld(): Promise<string[]> {
    return this.redis.zrange(this.heldKey, 0, -1);
  }

  private get consentsKey() {
    return `${this.prefix}ledger:consents-pending`;
  }

  /** Personal data held whose deadline passed before `beforeMs` (destruction not yet confirmed). */
  async heldDueBefore(beforeMs: number): Promise<number> {
    return this.redis.zcount(this.heldKey, '-inf', beforeMs);
  }

  async consentRequested(id: string, at: string): Promise<void> {
    await this.redis.zadd(this.consentsKey, 'NX', Date.parse(at), id);
  }

  async consentAnswered(requestId: string): Promise<void> {
    await this.redis.zrem(this.consentsKey, requestId);
  }

  async consentsPending(): Promise<number> {
    return this.redis.zcard(this.consentsKey);
  }

  async provided(rec: ProvidedRecord): Promise<void> {
    await this.redis.set(this.outKey(rec.id), JSON.stringify(rec), 'EX', this.retentionS, 'NX');
  }

  async getProvided(id: string): Promise<ProvidedRecord | null> {
    const raw = await this.redis.get(this.outKey(id));
    return raw === null ? null : (JSON.parse(raw) as ProvidedRecord);
  }

  async putTermination(t: Termination): Promise<void> {
    await this.redis.set(this.terminationKey, JSON.stringify(t));
  }

  async termination(): Promise<Termination | null> {
    const raw = await this.redis.get(this.terminationKey);
    return raw === null ? null : (JSON.parse(raw) as Termination);
  }
}
