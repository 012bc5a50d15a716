/**
 * {@link ReviewStore} on Redis: one JSON value per held request, and a sorted set of pending ones. A
 * review record expires with the request's validity; the set has no expiry of its own, so reading it
 * drops the ids whose record is gone (the count and the list are the live reviews only).
 */
import type { Redis } from 'ioredis';
import type { DecideOutcome, ReviewRecord, ReviewStore } from '../policy/review.js';

/**
 * KEYS[1] review key, KEYS[2] pending set; ARGV: id, decisionId, decision, at.
 * Decides a pending review once; the same decision again is `decided` (a retry), another is refused.
 */
const DECIDE = `
local raw = redis.call('GET', KEYS[1])
if not raw then return 'unknown' end
local rec = cjson.decode(raw)
if rec.state == 'decided' then
  if rec.decisionId == ARGV[2] then return 'again' end
  return 'already-decided'
end
rec.state = 'decided'
rec.decisionId = ARGV[2]
rec.decision = ARGV[3]
rec.decidedAt = ARGV[4]
redis.call('SET', KEYS[1], cjson.encode(rec), 'KEEPTTL')
redis.call('ZREM', KEYS[2], ARGV[1])
return 'decided'
`;

/** KEYS[1] review key, KEYS[2] pending set; ARGV: id, record, ttlS, score. Holds once. */
const HOLD = `
if redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3]), 'NX') then
  redis.call('ZADD', KEYS[2], tonumber(ARGV[4]), ARGV[1])
end
return 1
`;

/**
 * KEYS[1] pending set; ARGV[1] the review key prefix. The pending ids whose review record still
 * exists, oldest first; the others (expired records) leave the set.
 */
const LIVE_PENDING = `
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
local live = {}
for _, id in ipairs(ids) do
  if redis.call('EXISTS', ARGV[1] .. id) == 1 then
    live[#live + 1] = id
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return live
`;

export class RedisReviews implements ReviewStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(id: string) {
    return `${this.prefix}review:${id}`;
  }
  private get pendingKey() {
    return `${this.prefix}reviews:pending`;
  }

  async hold(rec: Omit<ReviewRecord, 'state'>, ttlS: number): Promise<void> {
    await this.redis.eval(
      HOLD,
      2,
      this.key(rec.id),
      this.pendingKey,
      rec.id,
      JSON.stringify({ ...rec, state: 'pending' }),
      ttlS,
      Date.parse(rec.receivedAt),
    );
  }

  async get(id: string): Promise<ReviewRecord | null> {
    const raw = await this.redis.get(this.key(id));
    return raw === null ? null : (JSON.parse(raw) as ReviewRecord);
  }

  async decide(id: string, decisionId: string, decision: string, at: string): Promise<DecideOutcome> {
    return (await this.redis.eval(
      DECIDE,
      2,
      this.key(id),
      this.pendingKey,
      id,
      decisionId,
      decision,
      at,
    )) as DecideOutcome;
  }

  async markDone(id: string, decisionId: string): Promise<void> {
    const ttl = await this.redis.ttl(this.key(id));
    await this.redis.set(`${this.key(id)}:done`, decisionId, 'EX', Math.max(ttl, 86_400));
  }

  async isDone(id: string, decisionId: string): Promise<boolean> {
    return (await this.redis.get(`${this.key(id)}:done`)) === decisionId;
  }

  async pending(): Promise<string[]> {
    return (await this.redis.eval(LIVE_PENDING, 1, this.pendingKey, this.key(''))) as string[];
  }
}
