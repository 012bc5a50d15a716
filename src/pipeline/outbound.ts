/**
 * Outbound: accord.outbox → parse → validate → authorise the sending authority → seal → publish to the
 * peer's accord.ingress → (broker confirm) → event `sent` → ack the outbox. A submission that fails any
 * check is rejected whole: an event with the code and field path goes to the sending authority, or to
 * accord.dlq when there is no listed authority to tell, and nothing is sent.
 */
import { createHash } from 'node:crypto';
import { ENVELOPE_VERSION, Envelope } from '../domain/envelope.js';
import { messageIdFor } from '../domain/ids.js';
import { parseJson, validate } from '../domain/parse.js';
import { Submission } from '../domain/submission.js';
import { seal } from '../crypto/seal.js';
import { AccordError } from '../errors.js';
import { deadLetter, emitEvent, type GatewayContext } from './context.js';

/** Codes that reject the submission; anything else is an infrastructure failure and is retried. */
const REJECTING = /^(input|schema|auth|policy)\./;

/** AMQP priority of the urgent lane (Art. 9(1)); normal traffic has none. */
export const URGENT_PRIORITY = 9;

export class OutboundPipeline {
  private readonly log;

  constructor(private readonly ctx: GatewayContext) {
    this.log = ctx.deps.log.child({ stage: 'outbound' });
  }

  /** Handle one delivery from accord.outbox. Resolves when it may be acked; throws to retry it. */
  async handle(content: Buffer): Promise<void> {
    const { ctx } = this;
    const inputSha256 = createHash('sha256').update(content).digest('hex');
    let raw: unknown;
    try {
      raw = parseJson(content, ctx.config.messages.maxSubmissionBytes);
    } catch (err) {
      return this.reject(err, undefined, undefined, { inputSha256, inputBytes: content.length });
    }
    // Who to tell about a problem: the claimed sender, if it is a listed authority.
    const claimed = (raw as { from?: unknown } | null)?.from;
    const sender = typeof claimed === 'string' && ctx.ownAuthorities.has(claimed) ? claimed : undefined;
    const key = (raw as { idempotencyKey?: unknown } | null)?.idempotencyKey;
    const idempotencyKey = typeof key === 'string' && key.length <= 128 ? key : undefined;
    const input = { inputSha256, inputBytes: content.length };

    try {
      if (typeof claimed !== 'string') {
        throw new AccordError(
          'schema.invalid',
          'submission is invalid at from: the sending authority is required',
          {
            path: 'from',
          },
        );
      }
      if (sender === undefined) {
        throw new AccordError(
          'auth.unknown_authority',
          'the sending authority is not listed in this party’s directory',
          {
            path: 'from',
          },
        );
      }
      const sub = validate(Submission, raw, 'submission');
      this.authorise(sub);
      const id = messageIdFor(ctx.config.party, sub.from, sub.idempotencyKey);

      const existing = await ctx.deps.state.getSent(id);
      if (existing?.sentAt) {
        // The same idempotency key again: one message, and the client is told which.
        await emitEvent(ctx, sub.from, {
          type: 'duplicate',
          at: ctx.deps.now().toISOString(),
          messageId: id,
          idempotencyKey: sub.idempotencyKey,
          kind: sub.kind,
        });
        this.log.info({ messageId: id }, 'duplicate submission, not sent again');
        return;
      }

      const record =
        existing ??
        (await ctx.deps.state.putSealed(
          id,
          await this.seal(id, sub),
          ctx.config.messages.defaultTtlS + 86_400,
        ));
      await emitEvent(ctx, sub.from, {
        type: 'accepted',
        at: ctx.deps.now().toISOString(),
        messageId: id,
        idempotencyKey: sub.idempotencyKey,
        kind: sub.kind,
        to: sub.to,
      });
      await ctx.deps.peer.publish(ctx.peerNames.ingress, Buffer.from(record.jwe, 'latin1'), {
        contentType: 'application/jose',
        messageId: id,
        ...(sub.priority === 'urgent' ? { priority: URGENT_PRIORITY } : {}),
      });
      const sentAt = ctx.deps.now().toISOString();
      await ctx.deps.state.markSent(id, sentAt);
      await emitEvent(ctx, sub.from, {
        type: 'sent',
        at: sentAt,
        messageId: id,
        idempotencyKey: sub.idempotencyKey,
        kind: sub.kind,
        to: sub.to,
      });
      this.log.info(
        { messageId: id, kind: sub.kind, to: sub.to.authority, bytes: record.jwe.length },
        'sent',
      );
    } catch (err) {
      if (err instanceof AccordError && REJECTING.test(err.code)) {
        return this.reject(err, sender, idempotencyKey, input);
      }
      throw err;
    }
  }

  /** Art. 13: only listed authorities send, only to listed authorities of the peer. */
  private authorise(sub: Submission): void {
    const { ctx } = this;
    if (sub.to.party !== ctx.config.peer.party) {
      throw new AccordError('auth.wrong_party', 'the recipient party is not this gateway’s peer', {
        path: 'to.party',
      });
    }
    if (!ctx.peerAuthorities.has(sub.to.authority)) {
      throw new AccordError(
        'auth.unknown_recipient',
        'the recipient authority is not in the peer’s directory',
        {
          path: 'to.authority',
        },
      );
    }
    if (!ctx.config.messages.languages.includes(sub.language)) {
      throw new AccordError('policy.language_not_agreed', 'Art. 9(6): English unless agreed otherwise', {
        path: 'language',
      });
    }
  }

  private async seal(id: string, sub: Submission) {
    const { ctx } = this;
    const now = ctx.deps.now();
    const ttlS = sub.ttlS ?? ctx.config.messages.defaultTtlS;
    const envelope: Envelope = validate(
      Envelope,
      {
        v: ENVELOPE_VERSION,
        id,
        kind: sub.kind,
        from: { party: ctx.config.party, authority: sub.from },
        to: sub.to,
        createdAt: now.toISOString(),
        expiresAt: new Date(now.getTime() + ttlS * 1000).toISOString(),
        priority: sub.priority,
        language: sub.language,
        handling: sub.handling ?? { purposes: ['combating-crime'], conditions: [] },
        body: sub.body,
      },
      'envelope',
    );
    const jwe = await seal(Buffer.from(JSON.stringify(envelope)), ctx.keys, ctx.profile);
    return {
      jwe,
      jweSha256: createHash('sha256').update(jwe).digest('hex'),
      from: sub.from,
      idempotencyKey: sub.idempotencyKey,
      kind: sub.kind,
      toParty: sub.to.party,
      toAuthority: sub.to.authority,
      sealedAt: now.toISOString(),
    };
  }

  private async reject(
    err: unknown,
    sender: string | undefined,
    idempotencyKey: string | undefined,
    input: { inputSha256: string; inputBytes: number },
  ): Promise<void> {
    const e = err instanceof AccordError ? err : new AccordError('internal.error');
    const at = this.ctx.deps.now().toISOString();
    this.log.warn(
      { code: e.code, path: e.path, sender, inputSha256: input.inputSha256 },
      'submission rejected',
    );
    if (sender !== undefined) {
      await emitEvent(this.ctx, sender, {
        type: 'rejected',
        at,
        ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
        code: e.code,
        message: e.message.slice(0, 500),
        ...(e.path === undefined ? {} : { path: e.path }),
      });
    } else {
      await deadLetter(this.ctx, {
        at,
        source: 'outbox',
        code: e.code,
        message: e.message,
        ...(e.path === undefined ? {} : { path: e.path }),
        ...input,
      });
    }
  }
}
