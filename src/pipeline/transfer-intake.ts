/**
 * Taking a transfer in (wire version 2): its members commit together, and their receipts go back
 * together. {@link TransferCommit} runs each member's handling up to its commit, one after the other,
 * then commits what they all queued in one AMQP transaction with the ack of the transfer, and only then
 * lets each go on (claim marked delivered, receipt). The receipt sinks decide how a receipt goes back:
 * sealed alone, at once, for a single message (wire version 1); collected and sealed as one transfer
 * for the members of a transfer.
 */
import type { Logger } from 'pino';
import type { EnvelopeOf } from '../domain/envelope.js';
import { URGENT_PRIORITY } from '../domain/envelope.js';
import type { GatewayContext } from './context.js';
import type { PublishProps, Tx, TxOutcome } from './ports.js';

interface Queued {
  queue: string;
  content: Buffer;
  props: PublishProps;
}

/** Why the members waiting for the transfer's commit do not go on: the transfer comes back. */
class TransferNotCommitted extends Error {
  constructor() {
    super('the transfer did not commit; it comes back');
  }
}

/** One transfer's members, run up to their commits one by one, then committed together. */
export class TransferCommit {
  private readonly queued: Queued[] = [];
  private readonly runs: Promise<unknown>[] = [];
  /** The members' records, appended in order and fsync'ed together before the transfer commits. */
  private readonly durable: Promise<unknown>[] = [];
  private release!: () => void;
  private abort!: (err: Error) => void;
  /** Settles when the transfer's transaction has committed (or will not). */
  private readonly committed = new Promise<void>((resolve, reject) => {
    this.release = resolve;
    this.abort = reject;
  });

  constructor(
    private readonly tx: Tx,
    private readonly log: Logger,
  ) {
    // Members that never wait on it must not make its rejection unhandled.
    this.committed.catch(() => undefined);
  }

  /**
   * Run one member's handling with a transaction of its own that commits with the transfer. Returns
   * undefined once the member has reached its commit (it goes on after the transfer's), or the outcome
   * for the whole transfer when it stopped without one: a pause (its claim is another copy's) or a
   * failure, which then goes to the consumer like a single message's.
   */
  async member(handle: (tx: Tx) => Promise<TxOutcome>): Promise<TxOutcome | undefined> {
    let reached!: () => void;
    const atCommit = new Promise<void>((r) => (reached = r));
    const memberTx: Tx = {
      publish: (queue, content, props) => void this.queued.push({ queue, content, props }),
      ack: () => undefined,
      commit: () => {
        reached();
        return this.committed;
      },
      beforeCommit: (durable) => {
        // Waited for in commit(); a failure there stops the transfer, not an unhandled rejection here.
        durable.catch(() => undefined);
        this.durable.push(durable);
      },
    };
    let settled: { outcome: TxOutcome } | { error: unknown } | undefined;
    const run = handle(memberTx).then(
      (outcome) => (settled = { outcome }),
      (error: unknown) => (settled = { error }),
    );
    this.runs.push(run);
    await Promise.race([atCommit, run]);
    if (settled === undefined) return undefined;
    // A member that ended without a commit has nothing to commit; an odd handler, not a reason to stop.
    if ('outcome' in settled && settled.outcome === 'done') return undefined;
    // It stopped before its commit: nothing of the transfer commits.
    this.abort(new TransferNotCommitted());
    await Promise.allSettled(this.runs);
    if ('error' in settled) throw settled.error;
    return settled.outcome;
  }

  /**
   * Once every member's record is durable, commit what every member queued, with the ack; then let
   * each go on, and wait for them.
   */
  async commit(): Promise<void> {
    try {
      await Promise.all(this.durable);
      for (const q of this.queued) this.tx.publish(q.queue, q.content, q.props);
      this.tx.ack();
      await this.tx.commit();
    } catch (err) {
      this.abort(err instanceof Error ? err : new Error(String(err)));
      await Promise.allSettled(this.runs);
      throw err;
    }
    this.release();
    // After the commit a member's failure (its receipt, a mark) is its own: the transfer is taken in,
    // and what failed repeats when the sender resends (the claim answers it).
    for (const r of await Promise.all(this.runs)) {
      const late = r as { error?: unknown };
      if (late.error !== undefined) {
        this.log.warn(
          { err: (late.error as Error)?.message },
          'a member failed after its transfer committed',
        );
      }
    }
  }
}

/** How receipts leave for the peer from one delivery of the ingress. */
export interface ReceiptSink {
  /** What the de-duplication record keeps of a receipt: the JWE (wire version 1) or the envelope's JSON. */
  prepare(receipt: EnvelopeOf<'receipt'>): Promise<string>;
  /** Send a kept receipt (as `prepare` made it, or an older record's JWE); a failure only logs. */
  send(kept: string, messageId: string, urgent: boolean): Promise<void>;
  /** Send what was collected (transfers); nothing for a single message. */
  flush(): Promise<void>;
}

/** A kept receipt that is a sealed JWE (always starts with a base64url header), not an envelope's JSON. */
const isSealed = (kept: string) => !kept.startsWith('{');

async function publishReceipt(
  ctx: GatewayContext,
  log: Logger,
  route: string,
  jwe: string,
  urgent: boolean,
  messageId: string,
): Promise<void> {
  try {
    await ctx.deps.peer.publish(route, Buffer.from(jwe, 'latin1'), {
      contentType: 'application/jose',
      // Art. 9(1): an urgent message's receipt travels in the urgent lane too.
      ...(urgent ? { priority: URGENT_PRIORITY } : {}),
    });
  } catch (err) {
    // The delivery stands. The sender resends when no receipt comes, and gets this receipt again.
    log.warn({ messageId, err: (err as Error).message }, 'receipt not sent; the sender will resend');
  }
}

/** Receipts of single messages (wire version 1): each sealed alone and sent at once. */
export function singleReceipts(ctx: GatewayContext, log: Logger): ReceiptSink {
  const sealOne = (receipt: EnvelopeOf<'receipt'>) =>
    ctx.crypto.seal(Buffer.from(JSON.stringify(receipt)), ctx.keys, ctx.profile, {
      urgent: receipt.priority === 'urgent',
    });
  return {
    prepare: sealOne,
    async send(kept, messageId, urgent) {
      const jwe = isSealed(kept) ? kept : await sealOne(JSON.parse(kept) as EnvelopeOf<'receipt'>);
      await publishReceipt(ctx, log, ctx.peerNames.ingress, jwe, urgent, messageId);
    },
    flush: () => Promise.resolve(),
  };
}

/**
 * Receipts of a transfer's members: kept as envelopes, collected, and sealed into one transfer after
 * the members committed — one signature for all of them, each receipt with its own evidence.
 */
export function transferReceipts(ctx: GatewayContext, log: Logger, urgent: boolean): ReceiptSink {
  const collected: { text: string; messageId: string }[] = [];
  return {
    prepare: (receipt) => Promise.resolve(JSON.stringify(receipt)),
    async send(kept, messageId, memberUrgent) {
      // An older record's sealed receipt goes as it is.
      if (isSealed(kept))
        return publishReceipt(ctx, log, ctx.peerNames.ingress, kept, memberUrgent, messageId);
      collected.push({ text: kept, messageId });
    },
    async flush() {
      if (collected.length === 0) return;
      const ids = collected.map((c) => c.messageId);
      let jwe: string;
      try {
        const sealed = await ctx.crypto.sealTransfer(
          collected.map((c) => c.text),
          { createdAt: ctx.deps.now().toISOString() },
          ctx.keys,
          ctx.profile,
          { urgent },
        );
        jwe = sealed.jwe;
      } catch (err) {
        log.warn(
          { messages: ids.length, err: (err as Error).message },
          'receipts not sealed; the sender will resend',
        );
        return;
      }
      await publishReceipt(ctx, log, ctx.peerNames.transferRoute, jwe, urgent, ids[0]!);
    },
  };
}
