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
import { AmqpConnection } from '../transport/amqp.js';
import { publishSubmission } from '../transport/connect.js';
import type { TlsConfig } from '../transport/tls.js';
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
  /** The local broker of the gateway, with this authority's broker user and password. */
  url: string;
  /** TLS for an amqps:// url: the broker's CA, and a client certificate and key if the broker wants one. */
  tls?: TlsConfig;
  /** AMQP heartbeat in seconds. @defaultValue 10 */
  heartbeatS?: number;
  /** The gateway's namespace, if it has one. */
  namespace?: string;
  /** This case system's party and authority id, as listed in the gateway's directory. */
  party: 'CZ' | 'KZ';
  authority: string;
  /** Unacknowledged deliveries at once per subscription. @defaultValue 16 */
  prefetch?: number;
  /** The connection's name in the broker's management UI. @defaultValue `accord-client-<authority>` */
  connectionName?: string;
  /**
   * Take from the events queue only the answers to this client's own submissions, and leave every
   * other event to the authority's case system: for a passer-by such as the `accord` command. The
   * client then consumes with a higher consumer priority and leaves what it does not take
   * unacknowledged; the broker gives it back to the queue, in its place, when the client closes (so
   * the case system sees those events late, never not). {@link onEvent} handlers see the answers only.
   * It looks at most {@link ANSWERS_ONLY_PREFETCH} events ahead. @defaultValue false
   */
  answersOnly?: boolean;
}

/** How far ahead in the events queue an `answersOnly` client looks for its answers. */
export const ANSWERS_ONLY_PREFETCH = 10_000;

/** The consumer priority of an `answersOnly` client: the broker offers it every event first. */
const ANSWERS_ONLY_PRIORITY = 10;

/**
 * The gateway gave no answer to a submission in time: it may not be running, or not be consuming its
 * outbox; the submission is in the outbox and will be decided when it does.
 */
export class NoAnswerError extends AccordError {
  constructor(
    messageId: string,
    /** How long the client waited, in milliseconds. */
    readonly timeoutMs: number,
  ) {
    super(
      'infra.unavailable',
      `the gateway gave no answer within ${timeoutMs} ms; the submission may still be queued in the outbox ` +
        'and is decided when the gateway consumes it (it does not while it is stopped or the peer’s broker ' +
        `is unreachable); its answer will come as an event. To find out: accord trace ${messageId} --config ` +
        '<gateway config>, or `accord status` for the outbox backlog',
      {
        path: 'idempotencyKey',
        messageId,
      },
    );
  }
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
// A submission sent to the peer at once is answered by its `sent` (no `accepted` before it).
const ANSWERS = new Set(['accepted', 'sent', 'rejected', 'duplicate']);

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
      broker: { url: opts.url, tls: opts.tls, heartbeatS: opts.heartbeatS },
      name: opts.connectionName ?? `accord-client-${opts.authority}`,
      confirmTimeoutMs: 10_000,
    });
    // A wrong namespace would otherwise show as a raw AMQP 404 (or a lost connection) at the first
    // publish: say what is wrong, once, here.
    const exchange = names(opts.namespace).submitExchange;
    if (!(await conn.exchangeExists(exchange))) {
      await conn.close();
      throw new AccordError(
        'config.invalid',
        `no Accord gateway under namespace ${opts.namespace === undefined ? '(none)' : `'${opts.namespace}'`} on ` +
          `this broker: the exchange ${exchange} does not exist. Check the namespace (the gateway config's ` +
          '"namespace") and that the gateway has started there at least once',
        { path: 'namespace' },
      );
    }
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
   * `accepted` (sent to the peer — the answer is its `sent` event — or taken in to be sent; `delivered`
   * follows as an event), `duplicate`
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
    const { timeoutMs, ...rest } = options;
    const submission = { ...rest, kind: first, from: this.opts.authority, body } as SubmissionInput;
    return this.submitAndWait(submission, timeoutMs === undefined ? {} : { timeoutMs });
  }

  /**
   * Publish a whole submission from this client's authority and wait for the gateway's answer, as
   * {@link submit} with a kind does: `accepted`, `duplicate`, or `rejected` with the code and field
   * path. Rejects with {@link NoAnswerError} when no answer came within `timeoutMs`.
   */
  async submitAndWait(
    submission: SubmissionInput,
    { timeoutMs = 30_000 }: { timeoutMs?: number } = {},
  ): Promise<SubmitResult> {
    const sub = validate(Submission, submission, 'submission');
    if (sub.from !== this.opts.authority) {
      // Its answer goes to the events of the authority it claims; this client reads its own.
      throw new AccordError('schema.invalid', `this client submits for ${this.opts.authority}`, {
        path: 'from',
      });
    }
    await this.ensureEvents();
    const key = sub.idempotencyKey;
    const messageId = messageIdFor(this.opts.party, sub.from, key);
    let waiter: (event: StatusEvent) => void = () => undefined;
    const forget = () => {
      const left = (this.waiters.get(key) ?? []).filter((w) => w !== waiter);
      if (left.length > 0) this.waiters.set(key, left);
      else this.waiters.delete(key);
    };
    let timer: NodeJS.Timeout | undefined;
    const answer = new Promise<StatusEvent>((resolve, reject) => {
      timer = setTimeout(() => {
        forget();
        reject(new NoAnswerError(messageId, timeoutMs));
      }, timeoutMs);
      waiter = (event) => {
        clearTimeout(timer);
        resolve(event);
      };
      this.waiters.set(key, [...(this.waiters.get(key) ?? []), waiter]);
    });
    try {
      await this.publishSubmission(submission);
    } catch (err) {
      clearTimeout(timer);
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
    // Art. 9(1): the urgent lane starts at the outbox.
    await this.toOutbox(Buffer.from(JSON.stringify(submission)), sub.priority === 'urgent');
    return { messageId: messageIdFor(this.opts.party, sub.from, sub.idempotencyKey) };
  }

  /**
   * Art. 11(2): hand information to the export gate for a third state or international organisation.
   * The gateway publishes it to `accord.export.<destination>` only with the provider's consent; the
   * events queue says `accepted` then `sent` (released), or `rejected` (`policy.onward_transfer_blocked`).
   */
  async exportTo(submission: z.input<typeof ExportSubmission>): Promise<{ exportId: string }> {
    const exp = validate(ExportSubmission, submission, 'export');
    await this.toOutbox(Buffer.from(JSON.stringify(submission)));
    return { exportId: messageIdFor(this.opts.party, exp.from, exp.idempotencyKey) };
  }

  /**
   * Art. 9(4): decide on a request held in this authority's review queue. The events queue says
   * `accepted` once the decision is carried out, or `rejected` with its code.
   */
  async decide(decision: z.input<typeof DecisionSubmission>): Promise<{ decisionId: string }> {
    const dec = validate(DecisionSubmission, decision, 'decision');
    await this.toOutbox(Buffer.from(JSON.stringify(decision)));
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

  /** Publish to the outbox as this authority's case system (connect.ts: submit exchange, user_id, priority). */
  private toOutbox(content: Buffer, urgent = false): Promise<void> {
    return publishSubmission(this.conn, this.opts.namespace, content, { urgent });
  }

  /** Publish raw bytes to the outbox (for tests of the gateway's own checks). */
  async submitRaw(content: Buffer): Promise<void> {
    await this.toOutbox(content);
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
    await this.toOutbox(Buffer.from(JSON.stringify(conf)));
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
    await this.toOutbox(Buffer.from(JSON.stringify(conf)));
    return { confirmationId: messageIdFor(this.opts.party, conf.from, conf.idempotencyKey) };
  }

  /**
   * Consume this authority's inbox: delivered messages, and destroy orders ({@link isDestroyOrder}).
   * An item is acknowledged once the handler resolves.
   */
  async onInbox(handler: (item: InboxItem) => Promise<void> | void): Promise<void> {
    const inbox = this.names.inbox(this.opts.authority);
    if ((await this.conn.messageCount(inbox)) === undefined) {
      throw new AccordError(
        'auth.unknown_authority',
        `${inbox} does not exist: the gateway declares an inbox for each authority in its directory; is ` +
          `${this.opts.authority} listed there?`,
        { path: 'authority' },
      );
    }
    await this.conn.consume(
      inbox,
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
    this.eventsConsumer ??= this.consumeEvents().catch((err: unknown) => {
      this.eventsConsumer = undefined;
      throw err;
    });
    return this.eventsConsumer;
  }

  private async consumeEvents(): Promise<void> {
    const queue = this.names.events(this.opts.authority);
    try {
      if (this.opts.answersOnly === true) {
        await this.conn.consumeSome(
          queue,
          ANSWERS_ONLY_PREFETCH,
          ANSWERS_ONLY_PRIORITY,
          async (m) => {
            const parsed = StatusEvent.safeParse(parseEvent(m.content));
            if (!parsed.success || !this.answer(parsed.data)) return false;
            for (const handler of this.eventHandlers) await handler(parsed.data);
            return true;
          },
          () => undefined,
        );
        return;
      }
      await this.conn.consume(
        queue,
        this.opts.prefetch ?? 16,
        async (m) => {
          const event = validate(StatusEvent, parseEvent(m.content), 'event');
          this.answer(event);
          for (const handler of this.eventHandlers) await handler(event);
        },
        () => undefined,
      );
    } catch (err) {
      if ((err as { code?: unknown }).code !== 404) throw err;
      throw new AccordError(
        'infra.unavailable',
        `${queue} does not exist: the gateway declares it when it starts (namespace, authority?)`,
        { cause: err },
      );
    }
  }

  /** Hand an answer to the oldest submission waiting for it; false when the event answers none. */
  private answer(event: StatusEvent): boolean {
    const key = event.idempotencyKey;
    if (key === undefined || !ANSWERS.has(event.type)) return false;
    const [next, ...rest] = this.waiters.get(key) ?? [];
    if (next === undefined) return false;
    // Answers come in the order the submissions were taken in: the oldest waiter gets this one.
    if (rest.length > 0) this.waiters.set(key, rest);
    else this.waiters.delete(key);
    next(event);
    return true;
  }

  async close(): Promise<void> {
    await this.conn.close();
  }
}

function parseEvent(content: Buffer): unknown {
  try {
    return JSON.parse(content.toString('utf8'));
  } catch {
    return undefined;
  }
}
