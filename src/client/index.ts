/**
 * The TypeScript client for case systems (`accord-gateway/client`): publish submissions to the
 * gateway's outbox and consume the authority's inbox and status events.
 */
import { names } from '../config.js';
import { messageIdFor } from '../domain/ids.js';
import { validate } from '../domain/parse.js';
import { StatusEvent } from '../domain/events.js';
import type { z } from 'zod';
import type { DestroyOrder } from '../domain/delivery.js';
import {
  CorrectionConfirmedSubmission,
  DecisionSubmission,
  DestructionConfirmedSubmission,
  ExportSubmission,
  Submission,
  type SubmissionInput,
} from '../domain/submission.js';
import type { InboxDelivery } from '../pipeline/inbound.js';
import { AmqpConnection, type PublishProps } from '../transport/amqp.js';
import { AccordError } from '../errors.js';
import type { SUBMITTABLE, SubmittableKind } from '../domain/messages.js';

export type { InboxDelivery } from '../pipeline/inbound.js';
export type { DestroyOrder } from '../domain/delivery.js';

/** What arrives in an authority's inbox: a delivered message, or an order to destroy one's personal data. */
export type InboxItem = InboxDelivery | DestroyOrder;

/** True for an Art. 10(5) / 18 destroy order (answer it with {@link CaseSystemClient.confirmDestruction}). */
export function isDestroyOrder(item: InboxItem): item is DestroyOrder {
  return (item as { order?: unknown }).order === 'destroy';
}
export type { StatusEvent } from '../domain/events.js';
export type { SubmissionInput } from '../domain/submission.js';
export type { SubmittableKind } from '../domain/messages.js';

export interface ClientOptions {
  /** The local broker of the gateway. */
  url: string;
  /** The gateway's namespace, if it has one. */
  namespace?: string;
  /** This case system's party and authority id, as listed in the gateway's directory. */
  party: 'CZ' | 'KZ';
  authority: string;
  /** Unacknowledged deliveries at once per subscription. @defaultValue 16 */
  prefetch?: number;
}

/** Options of {@link CaseSystemClient.submit} by kind: what the submission carries besides its body. */
export interface SubmitOptions {
  to: { party: 'CZ' | 'KZ'; authority: string };
  idempotencyKey: string;
  priority?: 'normal' | 'urgent';
  language?: string;
  handling?: SubmissionInput['handling'];
  ttlS?: number;
  /** How long to wait for the gateway's answer. @defaultValue 30000 */
  timeoutMs?: number;
}

/** What the gateway answered to a submission. */
export type SubmitResult =
  | { outcome: 'accepted' | 'duplicate'; messageId: string; event: StatusEvent }
  | {
      outcome: 'rejected';
      messageId: string;
      code: string;
      path?: string;
      message?: string;
      event: StatusEvent;
    };

/** Event types that answer a submission. */
const ANSWERS = new Set(['accepted', 'rejected', 'duplicate']);

export class CaseSystemClient {
  private readonly eventHandlers: ((event: StatusEvent) => Promise<void> | void)[] = [];
  private readonly waiters = new Map<string, ((event: StatusEvent) => void)[]>();
  private eventsConsumer: Promise<void> | undefined;

  private constructor(
    private readonly conn: AmqpConnection,
    private readonly opts: ClientOptions,
  ) {}

  static async connect(opts: ClientOptions): Promise<CaseSystemClient> {
    const conn = await AmqpConnection.open({
      url: opts.url,
      name: `accord-client-${opts.authority}`,
      heartbeatS: 10,
      confirmTimeoutMs: 10_000,
    });
    return new CaseSystemClient(conn, opts);
  }

  private get names() {
    return names(this.opts.namespace);
  }

  /**
   * Validate and publish a submission; resolves with the message id once the broker has it. The
   * gateway reports what became of it on the events queue (`accepted`, `rejected`, `sent`, …).
   */
  submit(submission: SubmissionInput): Promise<{ messageId: string }>;
  /**
   * Submit a `kind` with its `body` from this client's authority and wait for the gateway's answer:
   * `accepted` (it will be sealed and sent; `sent` and `delivered` follow as events), `duplicate`
   * (this idempotency key was used before: one message), or `rejected` with the code and field path.
   * The answer is read from this authority's events queue, which the client then consumes: register
   * {@link onEvent} to see every other event too.
   */
  submit<K extends SubmittableKind>(
    kind: K,
    body: z.input<(typeof SUBMITTABLE)[K]>,
    options: SubmitOptions,
  ): Promise<SubmitResult>;
  async submit(
    first: SubmissionInput | SubmittableKind,
    body?: unknown,
    options?: SubmitOptions,
  ): Promise<{ messageId: string } | SubmitResult> {
    if (typeof first !== 'string') return this.publishSubmission(first);
    if (options === undefined) throw new TypeError('submit(kind, body, options): options are required');
    const { timeoutMs = 30_000, ...rest } = options;
    const submission = { ...rest, kind: first, from: this.opts.authority, body } as SubmissionInput;
    validate(Submission, submission, 'submission');
    await this.ensureEvents();
    const key = options.idempotencyKey;
    let waiter: (event: StatusEvent) => void = () => undefined;
    const forget = () => {
      const left = (this.waiters.get(key) ?? []).filter((w) => w !== waiter);
      if (left.length > 0) this.waiters.set(key, left);
      else this.waiters.delete(key);
    };
    const answer = new Promise<StatusEvent>((resolve, reject) => {
      const timer = setTimeout(() => {
        forget();
        reject(
          new AccordError('infra.unavailable', `the gateway gave no answer within ${timeoutMs} ms`, {
            path: 'idempotencyKey',
          }),
        );
      }, timeoutMs);
      waiter = (event) => {
        clearTimeout(timer);
        resolve(event);
      };
      this.waiters.set(key, [...(this.waiters.get(key) ?? []), waiter]);
    });
    let messageId: string;
    try {
      ({ messageId } = await this.publishSubmission(submission));
    } catch (err) {
      forget();
      throw err;
    }
    const event = await answer;
    if (event.type === 'rejected') {
      return {
        outcome: 'rejected',
        messageId,
        code: event.code ?? 'internal.error',
        ...(event.path === undefined ? {} : { path: event.path }),
        ...(event.message === undefined ? {} : { message: event.message }),
        event,
      };
    }
    return { outcome: event.type === 'duplicate' ? 'duplicate' : 'accepted', messageId, event };
  }

  private async publishSubmission(submission: SubmissionInput): Promise<{ messageId: string }> {
    const sub = validate(Submission, submission, 'submission');
    await this.toOutbox(Buffer.from(JSON.stringify(submission)), {
      contentType: 'application/json',
      // Art. 9(1): the urgent lane starts at the outbox.
      ...(sub.priority === 'urgent' ? { priority: 9 } : {}),
    });
    return { messageId: messageIdFor(this.opts.party, sub.from, sub.idempotencyKey) };
  }

  /**
   * Art. 11(2): hand information to the export gate for a third state or international organisation.
   * The gateway publishes it to `accord.export.<destination>` only with the provider's consent; the
   * events queue says `sent` or `rejected` (`policy.onward_transfer_blocked`).
   */
  async exportTo(submission: z.input<typeof ExportSubmission>): Promise<{ exportId: string }> {
    const exp = validate(ExportSubmission, submission, 'export');
    await this.toOutbox(Buffer.from(JSON.stringify(submission)), {
      contentType: 'application/json',
    });
    return { exportId: messageIdFor(this.opts.party, exp.from, exp.idempotencyKey) };
  }

  /**
   * Art. 9(4): decide on a request held in this authority's review queue. The events queue says
   * `accepted` once the decision is carried out, or `rejected` with its code.
   */
  async decide(decision: z.input<typeof DecisionSubmission>): Promise<{ decisionId: string }> {
    const dec = validate(DecisionSubmission, decision, 'decision');
    await this.toOutbox(Buffer.from(JSON.stringify(decision)), {
      contentType: 'application/json',
    });
    return { decisionId: messageIdFor(this.opts.party, dec.from, dec.idempotencyKey) };
  }

  /**
   * Consume this authority's review queue (Art. 9(4)): requests a rule or hook held for a person, with
   * `review.reasons`. Answer each with {@link decide}; a delivery is acknowledged once the handler resolves.
   */
  async onReview(handler: (held: InboxDelivery) => Promise<void> | void): Promise<void> {
    await this.conn.consume(
      this.names.review(this.opts.authority),
      this.opts.prefetch ?? 16,
      async (m) => {
        await handler(JSON.parse(m.content.toString('utf8')) as InboxDelivery);
      },
      () => undefined,
    );
  }

  /**
   * Publish to the outbox through the gateway's submit exchange (an authority's broker user may write
   * there and nowhere else), with the connection's user as AMQP `user_id`: the broker checks it, and
   * the gateway accepts a submission only from the authority that user stands for (docs/security.md).
   */
  private toOutbox(content: Buffer, props: PublishProps): Promise<void> {
    const { submitExchange, outbox } = this.names;
    return this.conn.publishVia(submitExchange, outbox, content, { ...props, userId: this.user });
  }

  /** The broker user of this client's connection. */
  private get user(): string {
    return decodeURIComponent(new URL(this.opts.url).username) || 'guest';
  }

  /** Publish raw bytes to the outbox (for tests of the gateway's own checks). */
  async submitRaw(content: Buffer): Promise<void> {
    await this.toOutbox(content, { contentType: 'application/json' });
  }

  /**
   * Art. 10(4), 10(5), 18: confirm that this authority destroyed the personal data of a message it
   * received — after a destroy order (`deadline`, `termination`), earlier because they are no longer
   * needed, or after an erasure. The default idempotency key makes a repeat a duplicate.
   */
  async confirmDestruction(
    messageId: string,
    reason: DestructionConfirmedSubmission['body']['reason'],
    opts: { idempotencyKey?: string; destroyedAt?: string } = {},
  ): Promise<{ confirmationId: string }> {
    const conf = validate(
      DestructionConfirmedSubmission,
      {
        idempotencyKey: opts.idempotencyKey ?? `destroyed/${messageId}`,
        from: this.opts.authority,
        kind: 'destruction-confirmed',
        body: {
          messageId,
          reason,
          ...(opts.destroyedAt === undefined ? {} : { destroyedAt: opts.destroyedAt }),
        },
      },
      'destruction-confirmed',
    );
    await this.toOutbox(Buffer.from(JSON.stringify(conf)), { contentType: 'application/json' });
    return { confirmationId: messageIdFor(this.opts.party, conf.from, conf.idempotencyKey) };
  }

  /** Art. 10(4): confirm that this authority applied a correction it received; the provider is told. */
  async confirmCorrection(
    correctionId: string,
    opts: { idempotencyKey?: string } = {},
  ): Promise<{ confirmationId: string }> {
    const conf = validate(
      CorrectionConfirmedSubmission,
      {
        idempotencyKey: opts.idempotencyKey ?? `corrected/${correctionId}`,
        from: this.opts.authority,
        kind: 'correction-confirmed',
        body: { correctionId },
      },
      'correction-confirmed',
    );
    await this.toOutbox(Buffer.from(JSON.stringify(conf)), { contentType: 'application/json' });
    return { confirmationId: messageIdFor(this.opts.party, conf.from, conf.idempotencyKey) };
  }

  /**
   * Consume this authority's inbox: delivered messages, and destroy orders ({@link isDestroyOrder}).
   * An item is acknowledged once the handler resolves.
   */
  async onInbox(handler: (item: InboxItem) => Promise<void> | void): Promise<void> {
    await this.conn.consume(
      this.names.inbox(this.opts.authority),
      this.opts.prefetch ?? 16,
      async (m) => {
        await handler(JSON.parse(m.content.toString('utf8')) as InboxItem);
      },
      () => undefined,
    );
  }

  /** Consume this authority's status events (one consumer per client, shared with awaited submits). */
  async onEvent(handler: (event: StatusEvent) => Promise<void> | void): Promise<void> {
    this.eventHandlers.push(handler);
    await this.ensureEvents();
  }

  private ensureEvents(): Promise<void> {
    this.eventsConsumer ??= this.conn.consume(
      this.names.events(this.opts.authority),
      this.opts.prefetch ?? 16,
      async (m) => {
        const event = validate(StatusEvent, JSON.parse(m.content.toString('utf8')), 'event');
        const key = event.idempotencyKey;
        const waiting = key === undefined ? undefined : this.waiters.get(key);
        if (waiting && ANSWERS.has(event.type)) {
          // Answers come in the order the submissions were taken in: the oldest waiter gets this one.
          const [next, ...rest] = waiting;
          if (rest.length > 0) this.waiters.set(key!, rest);
          else this.waiters.delete(key!);
          next!(event);
        }
        for (const handler of this.eventHandlers) await handler(event);
      },
      () => undefined,
    );
    return this.eventsConsumer;
  }

  async close(): Promise<void> {
    await this.conn.close();
  }
}
