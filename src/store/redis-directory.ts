/**
 * Art. 13 on Redis: the peer's directory updates as received (pending), and the directory an operator
 * approved (current). Approving publishes on a channel, so running gateways switch without a restart.
 */
import type { Redis } from 'ioredis';
import type { DirectoryStore, PendingDirectoryUpdate } from '../pipeline/ports.js';

/** The directory in force once an operator approved an update. */
export interface ApprovedDirectory {
  updateId: string;
  approvedAt: string;
  approvedBy: string;
  authorities: PendingDirectoryUpdate['authorities'];
}

/** Pending updates are kept this long (a year) before they lapse unapproved. */
const PENDING_TTL_S = 366 * 86_400;

export class RedisDirectory implements DirectoryStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private pendingKey(id: string) {
    return `${this.prefix}directory:pending:${id}`;
  }
  private get currentKey() {
    return `${this.prefix}directory:current`;
  }
  /** The pub/sub channel that tells gateways an update was approved. */
  get channel() {
    return `${this.prefix}directory:approved`;
  }

  async putPending(update: PendingDirectoryUpdate): Promise<void> {
    await this.redis.set(this.pendingKey(update.id), JSON.stringify(update), 'EX', PENDING_TTL_S, 'NX');
  }

  async pending(): Promise<PendingDirectoryUpdate[]> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await this.redis.scan(cursor, 'MATCH', this.pendingKey('*'), 'COUNT', 200);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    const values = keys.length === 0 ? [] : await this.redis.mget(keys);
    return values
      .filter((v): v is string => v !== null)
      .map((v) => JSON.parse(v) as PendingDirectoryUpdate)
      .sort((a, b) => a.receivedAt.localeCompare(b.receivedAt));
  }

  async getPending(id: string): Promise<PendingDirectoryUpdate | undefined> {
    const v = await this.redis.get(this.pendingKey(id));
    return v === null ? undefined : (JSON.parse(v) as PendingDirectoryUpdate);
  }

  /** The approved directory, or undefined while the config's holds. */
  async current(): Promise<ApprovedDirectory | undefined> {
    const v = await this.redis.get(this.currentKey);
    return v === null ? undefined : (JSON.parse(v) as ApprovedDirectory);
  }

  /** Put a pending update in force and tell running gateways; the pending entry goes. */
  async approve(id: string, approvedBy: string, at: Date): Promise<ApprovedDirectory | undefined> {
    const update = await this.getPending(id);
    if (!update) return undefined;
    const approved: ApprovedDirectory = {
      updateId: id,
      approvedAt: at.toISOString(),
      approvedBy,
      authorities: update.authorities,
    };
    await this.redis.multi().set(this.currentKey, JSON.stringify(approved)).del(this.pendingKey(id)).exec();
    await this.redis.publish(this.channel, id);
    return approved;
  }
}
