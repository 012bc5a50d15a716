/**
 * The delivered-log (docs/reliability.md, "Receiving side"): an internal queue with one line, a
 * message id, per committed delivery. The line is published in the same AMQP transaction as the
 * delivery to the inbox and the ack of the ingress copy; applying it marks the message's claim
 * delivered. This module consumes the log, and is the barrier the receiver waits on before it trusts
 * a pending claim of its own copy: "every line committed before now has been applied".
 *
 * The barrier holds for every replica of the party (docs/cluster.md), not only for this process:
 * - The queue is declared with `x-single-active-consumer`: whichever replicas consume it, the broker
 *   delivers to one consumer at a time, in queue order.
 * - A waiter publishes a probe line (a header with a random nonce, confirmed by the broker) and waits
 *   until the active consumer has reached the probe and recorded its nonce in Redis. The consumer
 *   handles a probe only after every line delivered before it has been applied and acked
 *   (AmqpConnection.consumeWithBarriers; ordinary lines are applied concurrently, they do not depend
 *   on each other). A line that fails is retried in place, never nacked: a RabbitMQ 3.10 quorum queue
 *   without a delivery limit puts a nacked message at the back, behind a later probe.
 * - The waiter asks for a probe started after it found its claim pending: if the commit happened,
 *   the claim's line was in the queue before the copy came back, so it stands before that probe.
 * - The active consumer may die holding lines (and the probe) unacked. The broker gives them to the
 *   next consumer ahead of everything else: a classic queue requeues them to their original
 *   positions, a quorum queue serves returned messages before the others (both checked on RabbitMQ
 *   3.10 by test/delivered-log.test.ts). So a line never lands behind a probe published after it. The
 *   consumer is never cancelled while it holds lines (`basic.cancel` would let the next consumer start
 *   while lines are still unacked here); it goes away with its channel only.
 *
 * The barrier used before, the queue's ready count plus the lines this process was applying, misses
 * a line another replica holds unacked and has not applied yet.
 *
 * Migration: versions before this one declared `accord.delivered-log` without the argument, and
 * RabbitMQ refuses to redeclare a queue with other arguments (PRECONDITION_FAILED), so the log moved
 * to a new queue (config.ts `names().deliveredLog`). The retired queue is never declared here; while
 * it exists, what is ready in it is applied at start, every {@link LEGACY_DRAIN_INTERVAL_MS} and
 * before each probe. It is never deleted here: a replica of an older version may still publish to it,
 * and a transaction's publish to a deleted queue is dropped silently. The operator deletes it once no
 * such replica runs (docs/operator.md).
 */
import { randomUUID } from 'node:crypto';
import type { Message } from 'amqplib';
import type { Logger } from 'pino';
import type { DeliveredLog, MessageState } from '../pipeline/ports.js';
import type { PublishProps } from './amqp.js';

/** Header of a probe line; its value is the probe's nonce. Ordinary lines stay a bare message id. */
export const PROBE_HEADER = 'x-accord-probe';
/** A probe not applied by then is given up (its queue purged, say) and the next waiter starts another. */
export const PROBE_TIMEOUT_MS = 30_000;
/** How often the retired delivered-log is drained while it exists. */
export const LEGACY_DRAIN_INTERVAL_MS = 5_000;
/** How long a probe's mark stays in Redis: far longer than a waiter takes to look (every second). */
export const PROBE_MARK_TTL_S = 600;
/** Waiters remembered at most; forgetting one only makes it wait for a newer probe. */
const MAX_WAITERS = 10_000;
const MAX_NONCE_LENGTH = 64;

/** Where the active consumer records the probes it reached (Redis, shared by the replicas). */
export interface ProbeMarks {
  record(nonce: string): Promise<void>;
  isRecorded(nonce: string): Promise<boolean>;
}

/** What the delivered-log needs of the local broker (AmqpConnection). */
export interface LogBroker {
  publish(queue: string, content: Buffer, props: PublishProps): Promise<void>;
  consumeWithBarriers(
    queue: string,
    prefetch: number,
    handler: (msg: Message) => Promise<void>,
    isBarrier: (msg: Message) => boolean,
    onError: (err: unknown) => void,
  ): Promise<void>;
  drainQueue(queue: string, handler: (msg: Message) => Promise<void>): Promise<number | undefined>;
}

export interface DeliveredLogOptions {
  /** The delivered-log queue, declared with `x-single-active-consumer` (gateway.ts `queueArgsFor`). */
  queue: string;
  /** The retired queue of older versions (`names().legacyDeliveredLog`). */
  legacyQueue: string;
  broker: LogBroker;
  state: Pick<MessageState, 'markSeenDelivered'>;
  marks: ProbeMarks;
  log: Logger;
  /** Unacked lines the active consumer may hold. @defaultValue 64 */
  prefetch?: number;
}

interface Probe {
  /** Probes are numbered in the order this process started them. */
  seq: number;
  nonce: string;
  startedAt: number;
  /** The broker confirmed it: from now on the active consumer can reach it. */
  published: boolean;
}

/** The delivered-log's consumer and the cluster-wide barrier on it (see the header). */
export class DeliveredLogBarrier implements DeliveredLog {
  private readonly log: Logger;
  /** The number of the last probe started, and of the last one known applied. */
  private started = 0;
  private applied = 0;
  /** One probe at a time per process, shared by every waiter it is valid for. */
  private outstanding: Probe | undefined;
  /** Each waiter and the number of the first probe started after it began to wait. */
  private readonly waiters = new Map<string, number>();
  private legacyGone = false;
  /** Drains of the retired queue run one after the other (see drainLegacy). */
  private legacyChain: Promise<void> = Promise.resolve();
  private legacyTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly opts: DeliveredLogOptions) {
    this.log = opts.log.child({ stage: 'delivered-log' });
  }

  /**
   * Apply what is left in the retired queue, then consume the log; every replica consumes, the broker
   * lets one at a time apply. Call once.
   */
  async start(onError: (err: unknown) => void): Promise<void> {
    await this.drainLegacy().catch((err: unknown) =>
      this.log.warn({ err: (err as Error).message }, 'the retired delivered-log could not be drained yet'),
    );
    if (!this.legacyGone) {
      this.log.warn(
        { queue: this.opts.legacyQueue },
        'the retired delivered-log queue still exists; it is drained while it does. Delete it once no gateway of an older version runs (docs/operator.md)',
      );
      this.legacyTimer = setInterval(() => {
        this.drainLegacy().catch((err: unknown) => {
          if (!this.stopped) {
            this.log.warn({ err: (err as Error).message }, 'the retired delivered-log could not be drained');
          }
        });
      }, LEGACY_DRAIN_INTERVAL_MS);
      this.legacyTimer.unref();
    }
    await this.opts.broker.consumeWithBarriers(
      this.opts.queue,
      this.opts.prefetch ?? 64,
      (m) => this.apply(m),
      (m) => isProbe(m),
      onError,
    );
  }

  /** Stop draining the retired queue (the consumer goes with the broker connection). */
  stop(): void {
    this.stopped = true;
    clearInterval(this.legacyTimer);
  }

  /**
   * True once a probe started after `waiter` first asked has been applied: every line committed
   * before that moment has then been applied. Until then it starts (or shares) a probe and answers
   * false at once, so that the caller requeues its delivery and asks again later, instead of holding
   * it. A restart forgets the waiters: each simply waits for a new probe.
   */
  async isSettled(waiter: string): Promise<boolean> {
    let need = this.waiters.get(waiter);
    if (need === undefined) {
      if (this.waiters.size >= MAX_WAITERS) this.waiters.clear();
      need = this.started + 1;
      this.waiters.set(waiter, need);
    }
    try {
      await this.checkOutstanding();
      if (this.applied >= need) {
        this.waiters.delete(waiter);
        return true;
      }
      if (this.outstanding === undefined) await this.startProbe();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'delivered-log barrier unavailable; the copy waits');
    }
    return false;
  }

  /** Learn whether the outstanding probe was applied, or give it up after {@link PROBE_TIMEOUT_MS}. */
  private async checkOutstanding(): Promise<void> {
    const probe = this.outstanding;
    if (probe === undefined || !probe.published) return;
    if (await this.opts.marks.isRecorded(probe.nonce)) {
      this.applied = Math.max(this.applied, probe.seq);
      if (this.outstanding === probe) this.outstanding = undefined;
      return;
    }
    if (Date.now() - probe.startedAt > PROBE_TIMEOUT_MS && this.outstanding === probe) {
      this.log.warn(
        { queue: this.opts.queue, waitedMs: Date.now() - probe.startedAt },
        'a delivered-log probe was not applied in time; starting another (is a gateway consuming the delivered-log?)',
      );
      this.outstanding = undefined;
    }
  }

  private async startProbe(): Promise<void> {
    const probe: Probe = {
      seq: ++this.started,
      nonce: randomUUID(),
      startedAt: Date.now(),
      published: false,
    };
    // Set before any await: concurrent waiters share it instead of starting their own.
    this.outstanding = probe;
    try {
      // A replica of an older version may have put the line in the retired queue.
      await this.drainLegacy();
      await this.opts.broker.publish(this.opts.queue, Buffer.from(`probe:${probe.nonce}`), {
        contentType: 'text/plain',
        headers: { [PROBE_HEADER]: probe.nonce },
      });
      probe.published = true;
    } catch (err) {
      if (this.outstanding === probe) this.outstanding = undefined;
      throw err;
    }
  }

  /** One line of the log (or of the retired one). Idempotent: a line may be applied twice. */
  private async apply(msg: Message): Promise<void> {
    const nonce: unknown = msg.properties.headers?.[PROBE_HEADER];
    if (isProbe(msg)) {
      // The one active consumer reached the probe after applying every line before it.
      if (typeof nonce === 'string' && nonce.length <= MAX_NONCE_LENGTH) await this.opts.marks.record(nonce);
      return;
    }
    await this.opts.state.markSeenDelivered(msg.content.toString('utf8'));
  }

  /**
   * Apply what is ready in the retired queue. Drains run one after the other, so that when one
   * resolves, every line that was ready when it was asked for has been applied (not merely taken by a
   * drain still running). Lines an older replica holds unacked are not covered: docs/cluster.md.
   */
  private drainLegacy(): Promise<void> {
    const run = this.legacyChain.then(async () => {
      if (this.legacyGone) return;
      const lines = await this.opts.broker.drainQueue(this.opts.legacyQueue, (m) => this.apply(m));
      if (lines === undefined) {
        // Deleted by the operator (or never there): nothing declares it again but an older version.
        this.legacyGone = true;
        clearInterval(this.legacyTimer);
      } else if (lines > 0) {
        this.log.info(
          { queue: this.opts.legacyQueue, lines },
          'applied lines from the retired delivered-log',
        );
      }
    });
    this.legacyChain = run.catch(() => undefined);
    return run;
  }
}

function isProbe(msg: Message): boolean {
  return msg.properties.headers?.[PROBE_HEADER] !== undefined;
}
