/**
 * The TypeScript client for case systems (`accord-gateway/client`): publish submissions to the
 * gateway's outbox and consume the authority's inbox and status events.
 */
import { names } from '../config.js';
import { messageIdFor } from '../domain/ids.js';
import { validate } from '../domain/parse.js';
import { StatusEvent } from '../domain/events.js';
import type { z } from 'zod';
import {
  DecisionSubmission,
  ExportSubmission,
  Submission,
  type SubmissionInput,
} from '../domain/submission.js';
import type { InboxDelivery } from '../pipeline/inbound.js';
import { AmqpConnection } from '../transport/amqp.js';

export type { InboxDelivery } from '../pipeline/inbound.js';
export type { StatusEvent } from '../domain/events.js';
export type { SubmissionInput } from '../domain/submission.js';

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

export class CaseSystemClient {
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
  async submit(submission: SubmissionInput): Promise<{ messageId: string }> {
    const sub = validate(Submission, submission, 'submission');
    await this.conn.publish(this.names.outbox, Buffer.from(JSON.stringify(submission)), {
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
    await this.conn.publish(this.names.outbox, Buffer.from(JSON.stringify(submission)), {
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
    await this.conn.publish(this.names.outbox, Buffer.from(JSON.stringify(decision)), {
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

  /** Publish raw bytes to the outbox (for tests of the gateway's own checks). */
  async submitRaw(content: Buffer): Promise<void> {
    await this.conn.publish(this.names.outbox, content, { contentType: 'application/json' });
  }

  /** Consume this authority's inbox; a delivery is acknowledged once the handler resolves. */
  async onInbox(handler: (delivery: InboxDelivery) => Promise<void> | void): Promise<void> {
    await this.conn.consume(
      this.names.inbox(this.opts.authority),
      this.opts.prefetch ?? 16,
      async (m) => {
        await handler(JSON.parse(m.content.toString('utf8')) as InboxDelivery);
      },
      () => undefined,
    );
  }

  /** Consume this authority's status events. */
  async onEvent(handler: (event: StatusEvent) => Promise<void> | void): Promise<void> {
    await this.conn.consume(
      this.names.events(this.opts.authority),
      this.opts.prefetch ?? 16,
      async (m) => {
        await handler(validate(StatusEvent, JSON.parse(m.content.toString('utf8')), 'event'));
      },
      () => undefined,
    );
  }

  async close(): Promise<void> {
    await this.conn.close();
  }
}
