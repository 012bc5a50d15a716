/**
 * Deadlines the agreement sets, on BullMQ: a delayed job per obligation, and at its time an alert
 * unless the obligation was met. Jobs carry ids only. Kinds:
 * - `reply-due` (Art. 9(2)): a received request with `replyBy` has no reply or refusal by then;
 * - `oral-confirmation-due` (Art. 9(1)): an oral request has no confirming written request in time.
 * The alert is a `warning` event with an `obligation.*` code to the authority that must act, and an
 * error-level log line with the same code for the administrators' alerting.
 */
import type { Alerter } from '../admin/alerts.js';
import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Names } from '../config.js';
import { ERROR_CODES, type ErrorCode } from '../errors.js';
import type { Deadline, Deadlines, Publisher } from '../pipeline/ports.js';

const QUEUE = 'deadlines';
const CODES: Record<Deadline['kind'], ErrorCode> = {
  'reply-due': 'obligation.reply_overdue',
  'oral-confirmation-due': 'obligation.oral_confirmation_overdue',
};

export class BullDeadlines implements Deadlines {
  private readonly queue: Queue;
  private worker: Worker | undefined;

  constructor(
    private readonly deps: {
      names: Names;
      redis: Redis;
      connection: Redis;
      local: Publisher;
      log: Logger;
      alerts: Alerter;
      now: () => Date;
    },
  ) {
    this.queue = new Queue(QUEUE, { connection: deps.connection, prefix: `${deps.names.redisPrefix}bull` });
    this.queue.on('error', (err: Error) => deps.log.warn({ err: err.message }, 'deadline queue error'));
  }

  private metKey(kind: Deadline['kind'], id: string) {
    return `${this.deps.names.redisPrefix}met:${kind}:${id}`;
  }

  async schedule(d: Deadline): Promise<void> {
    const delay = Math.max(0, Date.parse(d.dueAt) - this.deps.now().getTime());
    await this.queue.add(d.kind, d, {
      jobId: `${d.kind}-${d.id}`,
      delay,
      removeOnComplete: true,
      removeOnFail: 1000,
    });
  }

  async satisfy(kind: Deadline['kind'], id: string): Promise<void> {
    // Kept for a year: an obligation is met once, whenever its check runs.
    await this.deps.redis.set(this.metKey(kind, id), this.deps.now().toISOString(), 'EX', 366 * 86_400);
  }

  start(): void {
    this.worker = new Worker(QUEUE, (job: Job<Deadline>) => this.check(job.data), {
      connection: this.deps.connection,
      prefix: `${this.deps.names.redisPrefix}bull`,
      concurrency: 20,
    });
    this.worker.on('error', (err: Error) =>
      this.deps.log.warn({ err: err.message }, 'deadline worker error'),
    );
  }

  private async check(d: Deadline): Promise<void> {
    if ((await this.deps.redis.exists(this.metKey(d.kind, d.id))) === 1) return;
    const code = CODES[d.kind];
    this.deps.log.error(
      { code, messageId: d.id, authority: d.authority, dueAt: d.dueAt },
      'obligation overdue',
    );
    this.deps.alerts.raise('alert.obligation_overdue', {
      messageId: d.id,
      authority: d.authority,
      obligation: code,
    });
    const event = {
      type: 'warning',
      at: this.deps.now().toISOString(),
      messageId: d.id,
      code,
      message: ERROR_CODES[code],
    };
    await this.deps.local.publish(this.deps.names.events(d.authority), Buffer.from(JSON.stringify(event)), {
      contentType: 'application/json',
      type: 'accord.event.warning',
      messageId: d.id,
    });
  }

  async close(): Promise<void> {
    await this.worker?.close();
    await this.queue.close();
  }
}
