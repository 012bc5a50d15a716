/**
 * Deadlines the agreement sets, on BullMQ: a delayed job per obligation, and at its time an alert
 * unless the obligation was met, or an act (a destroy order, the termination). Jobs carry ids only.
 * Alerts (see DEADLINE_KINDS in src/pipeline/ports.ts for the kinds):
 * - `reply-due` (Art. 9(2)), `oral-confirmation-due` (Art. 9(1)), `usage-report-due` (Art. 10(3)),
 *   `correction-confirmation-due` (Art. 10(4)): `alert.obligation_overdue`;
 * - `destruction-confirmation-due` (Art. 10(5)), `erasure-confirmation-due` (Art. 10(4)):
 *   `alert.destruction_overdue`.
 * The alert is also a `warning` event with an `obligation.*` code to the authority that must act.
 * Acts: `destruction-due` and `termination-effective` run the handler the gateway registers.
 *
 * Every job is also indexed by its due time in a sorted set, and a sweep promotes the ones due by the
 * gateway's clock: BullMQ fires on time by itself, the sweep catches a clock that jumped forward (and
 * lets a test drive a deadline of months without waiting).
 */
import type { Alerter, AlertCode } from '../admin/alerts.js';
import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Names } from '../config.js';
import { ERROR_CODES, type ErrorCode } from '../errors.js';
import type { Deadline, DeadlineKind, Deadlines, Publisher } from '../pipeline/ports.js';

const QUEUE = 'deadlines';
const CODES: Partial<Record<DeadlineKind, ErrorCode>> = {
  'reply-due': 'obligation.reply_overdue',
  'oral-confirmation-due': 'obligation.oral_confirmation_overdue',
  'usage-report-due': 'obligation.usage_report_overdue',
  'correction-confirmation-due': 'obligation.correction_unconfirmed',
  'destruction-confirmation-due': 'obligation.destruction_overdue',
  'erasure-confirmation-due': 'obligation.erasure_unconfirmed',
};
const ALERTS: Partial<Record<DeadlineKind, AlertCode>> = {
  'destruction-confirmation-due': 'alert.destruction_overdue',
  'erasure-confirmation-due': 'alert.destruction_overdue',
};

/** The sorted set of delayed jobs by due time, which the sweep reads. */
const dueKeyOf = (names: Names) => `${names.redisPrefix}deadlines:due`;

/** Add the job of a deadline (one per kind and id) and index it by its due time. */
async function addJob(queue: Queue, redis: Redis, names: Names, d: Deadline, now: Date): Promise<void> {
  const delay = Math.max(0, Date.parse(d.dueAt) - now.getTime());
  const jobId = `${d.kind}-${d.id}`;
  await queue.add(d.kind, d, {
    jobId,
    delay,
    removeOnComplete: true,
    removeOnFail: 1000,
    attempts: 5,
    backoff: { type: 'exponential', delay: 1000 },
  });
  if (delay > 0) await redis.zadd(dueKeyOf(names), Date.parse(d.dueAt), jobId);
}

/** What the gateway does when an act falls due (a destroy order, the termination). */
export type DeadlineAction = (d: Deadline) => Promise<void>;

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
      sweepIntervalMs: number;
    },
  ) {
    this.queue = new Queue(QUEUE, { connection: deps.connection, prefix: `${deps.names.redisPrefix}bull` });
    this.queue.on('error', (err: Error) => deps.log.warn({ err: err.message }, 'deadline queue error'));
  }

  private readonly actions = new Map<DeadlineKind, DeadlineAction>();
  private sweeper: NodeJS.Timeout | undefined;

  private metKey(kind: Deadline['kind'], id: string) {
    return `${this.deps.names.redisPrefix}met:${kind}:${id}`;
  }
  private get dueKey() {
    return dueKeyOf(this.deps.names);
  }

  /** Register what happens when a deadline of `kind` falls due, instead of an alert. */
  onDue(kind: DeadlineKind, action: DeadlineAction): void {
    this.actions.set(kind, action);
  }

  async schedule(d: Deadline): Promise<void> {
    await addJob(this.queue, this.deps.redis, this.deps.names, d, this.deps.now());
  }

  /** Promote the delayed jobs that are due by the gateway's clock. */
  async sweep(): Promise<void> {
    const due = await this.deps.redis.zrangebyscore(
      this.dueKey,
      '-inf',
      this.deps.now().getTime(),
      'LIMIT',
      0,
      500,
    );
    for (const jobId of due) {
      const job = await this.queue.getJob(jobId);
      if (job && (await job.isDelayed())) await job.promote().catch(() => undefined);
      await this.deps.redis.zrem(this.dueKey, jobId);
    }
  }

  async isMet(kind: DeadlineKind, id: string): Promise<boolean> {
    return (await this.deps.redis.exists(this.metKey(kind, id))) === 1;
  }

  async satisfy(kind: Deadline['kind'], id: string): Promise<void> {
    // Kept for a year: an obligation is met once, whenever its check runs.
    await this.deps.redis.set(this.metKey(kind, id), this.deps.now().toISOString(), 'EX', 366 * 86_400);
    // Met late: the overdue alert, if this process raised it, is resolved.
    this.deps.alerts.resolve(ALERTS[kind] ?? 'alert.obligation_overdue', `${kind}:${id}`);
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
    const tick = () => {
      this.sweep()
        .catch((err: unknown) => this.deps.log.warn({ err: (err as Error).message }, 'deadline sweep failed'))
        .finally(() => {
          if (this.sweeper !== undefined) this.sweeper = setTimeout(tick, this.deps.sweepIntervalMs);
        });
    };
    this.sweeper = setTimeout(tick, this.deps.sweepIntervalMs);
  }

  private async check(d: Deadline): Promise<void> {
    if (await this.isMet(d.kind, d.id)) return;
    const action = this.actions.get(d.kind);
    if (action) return action(d);
    const code = CODES[d.kind];
    if (code === undefined) {
      this.deps.log.error({ kind: d.kind, messageId: d.id }, 'a deadline of a kind without handler');
      return;
    }
    this.deps.log.error(
      { code, messageId: d.id, authority: d.authority, dueAt: d.dueAt },
      'obligation overdue',
    );
    this.deps.alerts.open(
      ALERTS[d.kind] ?? 'alert.obligation_overdue',
      { messageId: d.id, authority: d.authority, obligation: code },
      `${d.kind}:${d.id}`,
    );
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
    clearTimeout(this.sweeper);
    this.sweeper = undefined;
    await this.worker?.close();
    await this.queue.close();
  }
}

/**
 * Move a scheduled deadline to another time (for the command line, without a running gateway): the job
 * is replaced by one with the new due time, and the sweep index follows.
 */
export async function rescheduleDeadline(
  connection: Redis,
  names: Names,
  d: Deadline,
  now: Date,
): Promise<void> {
  const queue = new Queue(QUEUE, { connection, prefix: `${names.redisPrefix}bull` });
  // Its connection's errors reach the queue's `error` event; the calls below reject with them anyway.
  queue.on('error', () => undefined);
  try {
    const job = await queue.getJob(`${d.kind}-${d.id}`);
    if (job && !(await job.isActive())) await job.remove();
    await addJob(queue, connection, names, d, now);
  } finally {
    await queue.close();
  }
}
