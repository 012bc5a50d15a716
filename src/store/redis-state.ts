/** {@link MessageState} on Redis: one hash per message id, expiring after the message's lifetime. */
import type { Redis } from 'ioredis';
import type { MessageState, SeenRecord, SentRecord } from '../pipeline/ports.js';

export class RedisMessageState implements MessageState {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private sentKey(id: string) {
    return `${this.prefix}sent:${id}`;
  }
  private seenKey(id: string) {
    return `${this.prefix}seen:${id}`;
  }

  async putSealed(id: string, rec: SentRecord, ttlS: number): Promise<SentRecord> {
    const key = this.sentKey(id);
    // The sealed record is one field written with HSETNX, so a concurrent or repeated attempt either
    // wins whole or reads the winner's record; sentAt/deliveredAt are separate write-once fields.
    const { sentAt: _s, deliveredAt: _d, ...immutable } = rec;
    const results = await this.redis
      .multi()
      .hsetnx(key, 'rec', JSON.stringify(immutable))
      .expire(key, ttlS, 'NX')
      .exec();
    const won = results?.[0]?.[1] === 1;
    if (won) return rec;
    return (await this.getSent(id)) ?? rec;
  }

  async getSent(id: string): Promise<SentRecord | null> {
    const h = await this.redis.hgetall(this.sentKey(id));
    if (!h.rec) return null;
    const rec = JSON.parse(h.rec) as SentRecord;
    if (h.sentAt) rec.sentAt = h.sentAt;
    if (h.deliveredAt) rec.deliveredAt = h.deliveredAt;
    return rec;
  }

  async markSent(id: string, at: string): Promise<void> {
    await this.redis.hsetnx(this.sentKey(id), 'sentAt', at);
  }

  async markDelivered(id: string, at: string): Promise<boolean> {
    return (await this.redis.hsetnx(this.sentKey(id), 'deliveredAt', at)) === 1;
  }

  async getSeen(id: string): Promise<SeenRecord | null> {
    const h = await this.redis.hgetall(this.seenKey(id));
    if (!h.receiptJwe) return null;
    return h as unknown as SeenRecord;
  }

  async putSeen(id: string, rec: SeenRecord, ttlS: number): Promise<void> {
    const key = this.seenKey(id);
    await this.redis
      .multi()
      .hset(key, { ...rec })
      .expire(key, ttlS)
      .exec();
  }
}
