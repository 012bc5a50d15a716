/**
 * What Redis knows about the letters in accord.dlq, beside the queue itself: which sent messages that
 * got no receipt (`delivery.no_receipt`) were delivered after all, by a late receipt. One hash,
 * `<prefix>dlq:resolved`, maps such a message id to the time its receipt came; the receipt path writes
 * it (RedisMessageState.markDelivered, atomically with the mark), `accord dlq` and the admin API read it
 * and remove an entry when its letter leaves the queue. The letter itself stays, as evidence, until an
 * operator drops it; a resolved letter no longer counts as open (`accord status`, `accord_dlq_depth`).
 */
import type { Redis } from 'ioredis';

/** The hash of resolved `delivery.no_receipt` letters: message id → when the late receipt came. */
export const resolvedKey = (prefix: string) => `${prefix}dlq:resolved`;

/**
 * The field of a sent message's hash that says its `delivery.no_receipt` letter left the queue (it was
 * dropped): a receipt that comes later resolves no letter.
 */
export const LETTER_GONE_FIELD = 'letterGone';

export class RedisDeadLetterMarks {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  /** Every resolved message id, with when its late receipt came. */
  async resolved(): Promise<Map<string, string>> {
    return new Map(Object.entries(await this.redis.hgetall(resolvedKey(this.prefix))));
  }

  /** How many letters are resolved (each resolved message has one letter, but for a rare repeat). */
  async resolvedCount(): Promise<number> {
    return this.redis.hlen(resolvedKey(this.prefix));
  }

  /**
   * The last letter of message `id` left the queue: forget its resolution, and tell a later receipt
   * that there is no letter left to resolve.
   */
  async letterGone(id: string): Promise<void> {
    const sent = `${this.prefix}sent:${id}`;
    await this.redis
      .multi()
      .hdel(resolvedKey(this.prefix), id)
      // Only on a hash that exists (it expires with the message): never create one.
      .eval(
        "if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], ARGV[1], '1') end return 0",
        1,
        sent,
        LETTER_GONE_FIELD,
      )
      .exec();
  }
}
