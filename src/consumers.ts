/**
 * Runs a pipeline on each delivery of a queue and decides what happens when it fails, from the
 * disposition table in errors.ts: an outage or a missing signing key makes the delivery wait and come
 * back; any other failure is retried up to `delivery.poisonAttempts` times, then the delivery is
 * parked in accord.dlq as `delivery.poison`, so one bad message never blocks the traffic behind it.
 */
import { createHash } from 'node:crypto';
import type { ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import type { AccordError } from './errors.js';
import { ERROR_CODES, RETRY_DELAY_MS, asAccordError, dispositionOfFailure } from './errors.js';
import { commitWith, deadLetterMessage, replayableJwe, type GatewayContext } from './pipeline/context.js';
import { URGENT_PRIORITY } from './pipeline/dispatch.js';
import type { Incoming } from './pipeline/ports.js';
import type { Tx, TxOutcome } from './transport/amqp.js';

/** A delivery in the urgent lane (Art. 9(1)): its crypto goes first, and it never waits at the gate. */
export function isUrgent(msg: ConsumeMessage): boolean {
  return (msg.properties.priority as number | undefined) === URGENT_PRIORITY;
}

/**
 * Counts how often the same delivery failed the same way, so a poison message is parked instead of
 * retried forever. In memory: after a restart a poison message gets a fresh count, which only delays it.
 */
export class PoisonCounter {
  private readonly counts = new Map<string, number>();
  constructor(private readonly limit: number) {}

  /** Returns true when this failure reaches the limit. */
  fail(key: string): boolean {
    const n = (this.counts.get(key) ?? 0) + 1;
    if (n >= this.limit) {
      this.counts.delete(key);
      return true;
    }
    // Bounded: a flood of distinct failing messages must not grow memory without end.
    if (this.counts.size > 10_000) this.counts.clear();
    this.counts.set(key, n);
    return false;
  }

  forget(key: string): void {
    this.counts.delete(key);
  }
}

/** How often a stage logs that messages wait for a usable key (once a minute, not once per message). */
export const KEY_WAIT_LOG_INTERVAL_MS = 60_000;

/**
 * Lets a condition through once per interval and per key (e.g. a code), counting what it held back,
 * so a condition that fails every message (no key to seal with) is one log line a minute, not
 * thousands.
 */
export class OncePerInterval {
  private readonly last = new Map<string, { at: number; held: number }>();
  constructor(
    private readonly intervalMs: number,
    private readonly clock: () => number = Date.now,
  ) {}

  /** The number held back since the last pass (0 the first time), or undefined to hold this one back. */
  pass(key: string): number | undefined {
    const now = this.clock();
    const seen = this.last.get(key);
    if (seen && now - seen.at < this.intervalMs) {
      seen.held++;
      return undefined;
    }
    this.last.set(key, { at: now, held: 0 });
    return seen?.held ?? 0;
  }
}

/** The consumer side of one pipeline stage. */
export interface GuardOptions {
  stage: 'outbox' | 'ingress';
  ctx: GatewayContext;
  poison: PoisonCounter;
  /** True while a connection the pipelines need is down: a raw failure then is an outage. */
  connectionsDown: () => boolean;
  /** Called before a delivery is parked as poison, to undo what its attempts claimed. */
  onPark?: (m: Incoming) => Promise<void>;
  log: Logger;
}

/** Wrap a pipeline's handler into a transactional consumer's handler, with the failure handling above. */
export function guarded(
  opts: GuardOptions,
  handle: (m: Incoming, tx: Tx) => Promise<TxOutcome>,
): (msg: ConsumeMessage, tx: Tx) => Promise<TxOutcome> {
  const { stage, ctx, poison, log } = opts;
  const keyWaits = new OncePerInterval(KEY_WAIT_LOG_INTERVAL_MS);
  return async (msg, tx) => {
    const incoming: Incoming = {
      content: msg.content,
      redelivered: msg.fields.redelivered,
      headers: msg.properties.headers ?? {},
      ...(typeof msg.properties.userId === 'string' ? { userId: msg.properties.userId } : {}),
      urgent: isUrgent(msg),
    };
    const key = createHash('sha256').update(msg.content).digest('hex');
    try {
      const outcome = await handle(incoming, tx);
      poison.forget(key);
      return outcome;
    } catch (err) {
      const disposition = dispositionOfFailure(err, opts.connectionsDown());
      if (disposition === 'wait-for-key') {
        // Never sign with an expired or revoked key, never drop the message: it waits for a valid key.
        // Every waiting message fails the same way every 5 s: one line a minute says so.
        const { code, kid, path } = err as AccordError;
        const heldBack = keyWaits.pass(code);
        if (heldBack !== undefined) {
          log.error(
            { stage, code, kid, path, heldBack, err: (err as Error).message },
            'no usable key for this message now; it waits (logged once a minute while it lasts)',
          );
        }
        return { requeueAfterMs: RETRY_DELAY_MS[disposition] };
      }
      if (disposition === 'retry-after') {
        log.warn({ stage, err: (err as Error).message }, 'infrastructure unavailable; the message waits');
        return { requeueAfterMs: RETRY_DELAY_MS[disposition] };
      }
      const e = asAccordError(err);
      log.error({ stage, code: e.code, err: (err as Error)?.message }, 'processing failed');
      if (!poison.fail(key)) return { requeueAfterMs: RETRY_DELAY_MS['retry-after'] };
      await opts
        .onPark?.(incoming)
        .catch((parkErr: unknown) =>
          log.error(
            { stage, err: (parkErr as Error)?.message },
            'could not undo the parked delivery’s claims',
          ),
        );
      const attempts = ctx.config.delivery.poisonAttempts;
      await commitWith(
        tx,
        deadLetterMessage(ctx, {
          at: ctx.deps.now().toISOString(),
          source: stage,
          code: 'delivery.poison',
          message: `${ERROR_CODES['delivery.poison']} (${attempts} attempts; last: ${e.code})`,
          inputSha256: key,
          inputBytes: msg.content.length,
          ...(stage === 'ingress' ? { jwe: replayableJwe(msg.content) } : {}),
        }),
      );
      return 'done';
    }
  };
}
