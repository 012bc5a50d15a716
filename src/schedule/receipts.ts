/**
 * Reception awareness (AS4-style) on BullMQ: for every sent message a delayed job checks that the
 * signed receipt came; if not, it resends the same sealed message, with exponential back-off, and
 * after the last resend reports `failed` to the sending authority and parks the message in accord.dlq.
 * The members of a transfer share one job: they were sent together and are resent together (one
 * publish of the stored transfer), each member's receipt is looked for, and each member still without
 * one after the last resend fails on its own. Jobs carry message and transfer ids only: no personal
 * data in Redis job data (Art. 10(7)).
 */
import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config, Names } from '../config.js';
import { ERROR_CODES } from '../errors.js';
import { deadLetterTo, type DeadLetter } from '../pipeline/context.js';
import type { Alerter } from '../admin/alerts.js';
import type {
  MessageState,
  Metrics,
  Publisher,
  ReceiptTimer,
  SealedCopy,
  SentRecord,
} from '../pipeline/ports.js';
import { publishSealedCopy } from '../pipeline/dispatch.js';

interface Deps {
  config: Config;
  names: Names;
  peerNames: Names;
  state: MessageState;
  local: Publisher;
  peer: Publisher;
  log: Logger;
  metrics: Metrics;
  alerts: Alerter;
  /** A connection with `maxRetriesPerRequest: null`, as BullMQ workers require. */
  connection: Redis;
  /** The gateway's clock, which stamps a failure. */
  now: () => Date;
}

const QUEUE = 'receipts';

/** A check's job data: one message, or the members of one transfer. */
type CheckData = { id: string } | { transfer: string; ids: string[] };

export class BullReceiptTimer implements ReceiptTimer {
  private readonly queue: Queue;
  private worker: Worker | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly now: () => Date;
  /**
   * Transfers resent lately: checks of one transfer's members that fire together (each member's own
   * check, scheduled when a stored transfer is sent again after a restart) resend it once. The window
   * stays below the shortest back-off, or a transfer would get fewer resends than `maxResends`.
   */
  private readonly resending: RecentOnce;

  constructor(private readonly deps: Deps) {
    this.now = deps.now;
    this.resending = new RecentOnce(Math.min(2000, deps.config.delivery.receiptTimeoutMs / 2));
    this.queue = new Queue(QUEUE, { connection: deps.connection, prefix: `${deps.names.redisPrefix}bull` });
    this.queue.on('error', (err: Error) => deps.log.warn({ err: err.message }, 'receipt queue error'));
  }

  async schedule(messageId: string): Promise<void> {
    await this.queue.add('await-receipt', { id: messageId }, this.jobOptions(messageId));
  }

  async scheduleTransfer(transfer: string, messageIds: readonly string[]): Promise<void> {
    await this.queue.add(
      'await-receipts',
      { transfer, ids: [...messageIds] },
      this.jobOptions(`transfer-${transfer}`),
    );
  }

  private jobOptions(jobId: string) {
    const { delivery } = this.deps.config;
    return {
      jobId,
      delay: delivery.receiptTimeoutMs,
      attempts: delivery.maxResends + 1,
      backoff: { type: 'exponential' as const, delay: delivery.receiptTimeoutMs },
      removeOnComplete: true,
      removeOnFail: true,
    };
  }

  /** Start the worker, and a watchdog that replaces it when it stops after a Redis failure. */
  start(): void {
    this.worker = this.makeWorker();
    // BullMQ workers can stop after a Redis restart while the queue still accepts jobs (bullmq
    // #2466, #3185): a worker that is no longer running is replaced.
    this.watchdog = setInterval(() => {
      if (this.stopped || !this.worker || this.worker.isRunning()) return;
      this.deps.log.warn('receipt worker stopped; replacing it');
      const old = this.worker;
      this.worker = this.makeWorker();
      old.close(true).catch(() => undefined);
    }, 5000);
    this.watchdog.unref();
  }

  private makeWorker(): Worker {
    const w = new Worker(QUEUE, (job: Job<CheckData>) => this.check(job), {
      connection: this.deps.connection,
      prefix: `${this.deps.names.redisPrefix}bull`,
      concurrency: 50,
    });
    w.on('error', (err: Error) => this.deps.log.warn({ err: err.message }, 'receipt worker error'));
    return w;
  }

  /**
   * One check: every receipt there → done; else resend (once for a transfer's members) and check
   * again later; after the last resend, each message still without a receipt fails.
   */
  private async check(job: Job<CheckData>): Promise<void> {
    const { state, config, log } = this.deps;
    const ids = 'ids' in job.data ? job.data.ids : [job.data.id];
    const records = await Promise.all(ids.map((id) => state.getSent(id)));
    // A record rebuilt after a Redis loss has no sealed copy to resend (src/jobs/redis-loss.ts).
    const open = ids
      .map((id, i) => ({ id, rec: records[i] }))
      .filter((m): m is { id: string; rec: SentRecord } => {
        const rec = m.rec;
        return rec != null && !rec.deliveredAt && !rec.failedAt && rec.rebuilt !== true;
      });
    if (open.length === 0) return;
    if (job.attemptsMade === 0) {
      for (const { id, rec } of open.filter((m) => m.rec.kind === 'refusal-notice')) {
        // Art. 9(5): a refusal is notified immediately; one missed receipt is already worth a page.
        this.deps.alerts.raise('alert.refusal_notice_overdue', {
          messageId: id,
          authority: rec.from,
          kind: rec.kind,
        });
      }
    }
    const first = open[0]!;
    const copy = await state.sealedCopy(first.rec);
    if (job.attemptsMade < config.delivery.maxResends && copy !== null) {
      // The members of one transfer resend it once between them: the peer answers each member.
      if (copy.transfer === undefined || this.resending.first(copy.transfer)) {
        await publishSealedCopy(
          this.deps.peer,
          this.deps.peerNames,
          copy,
          first.id,
          first.rec.urgent === true,
        );
        this.deps.metrics.resent();
      }
      log.info(
        {
          ...(open.length === 1 ? { messageId: first.id } : { messages: open.length }),
          resend: job.attemptsMade + 1,
          ...(copy.transfer ? { transfer: copy.transfer } : {}),
        },
        'no receipt yet; resent the same sealed message',
      );
      // Throwing schedules the next check after the back-off.
      throw new Error('awaiting receipt');
    }
    // Members of one transfer share its stored copy: read once, not once per member.
    for (const m of open) {
      const shared = m.id === first.id || (copy?.transfer !== undefined && m.rec.transfer === copy.transfer);
      await this.fail(m.id, m.rec, shared ? copy : await state.sealedCopy(m.rec));
    }
  }

  /** No receipt after the last resend: `failed` to the sender, the sealed copy to accord.dlq, the mark. */
  private async fail(id: string, rec: SentRecord, copy: SealedCopy | null): Promise<void> {
    const { state, config, log } = this.deps;
    // Event and dead letter first, the mark last: a crash in between repeats them rather than losing them.
    const at = this.now().toISOString();
    log.error({ messageId: id, resends: config.delivery.maxResends }, 'no receipt after the last resend');
    this.deps.alerts.raise('alert.delivery_failed', { messageId: id, kind: rec.kind, authority: rec.from });
    const event = {
      type: 'failed',
      at,
      messageId: id,
      idempotencyKey: rec.idempotencyKey,
      kind: rec.kind,
      to: { party: rec.toParty, authority: rec.toAuthority },
      code: 'delivery.no_receipt',
      message: ERROR_CODES['delivery.no_receipt'],
    };
    await this.deps.local.publish(this.deps.names.events(rec.from), Buffer.from(JSON.stringify(event)), {
      contentType: 'application/json',
      type: 'accord.event.failed',
      messageId: id,
    });
    const letter: DeadLetter = {
      at,
      source: 'outbox',
      code: 'delivery.no_receipt',
      message: `no receipt after ${config.delivery.maxResends} resends`,
      messageId: id,
      inputSha256: rec.jweSha256,
      inputBytes: copy?.jwe.length ?? 0,
      ...(copy === null ? {} : { jwe: copy.jwe }),
    };
    const out = deadLetterTo(this.deps.names, letter);
    await this.deps.local.publish(out.queue, out.content, out.props);
    if (await state.markFailed(id, at)) this.deps.metrics.message('out', rec.kind, 'failed');
  }

  async close(): Promise<void> {
    this.stopped = true;
    if (this.watchdog) clearInterval(this.watchdog);
    await this.worker?.close();
    await this.queue.close();
  }
}

/** Lets a key through once per window (a transfer resent once for all its members' checks). */
export class RecentOnce {
  private readonly seen = new Map<string, number>();
  constructor(private readonly windowMs: number) {}

  first(key: string, now = Date.now()): boolean {
    for (const [k, at] of this.seen) {
      if (now - at < this.windowMs) break;
      this.seen.delete(k);
    }
    const at = this.seen.get(key);
    if (at !== undefined && now - at < this.windowMs) return false;
    this.seen.delete(key);
    this.seen.set(key, now);
    return true;
  }
}
