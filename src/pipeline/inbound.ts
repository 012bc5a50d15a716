/**
 * Inbound: accord.ingress → open (decrypt, verify) → validate and check (decide-inbound.ts: the
 * recipient is this party and a listed authority, the sender is the pinned peer, not expired) →
 * de-duplicate → load the facts → decide (decide-inbound.ts with the kind's spec from src/kinds/) →
 * claim → execute (execute.ts: deliver to accord.inbox.<authority>, or to review, or refuse) → signed
 * receipt back to the sender. Receipts for what this gateway sent end here too and become `delivered`
 * events. A message that fails any check is parked in accord.dlq with its code (there is no
 * trustworthy sender to tell); nothing of it is delivered.
 *
 * Exactly once into the case system. The delivery to the inbox, a line in the internal delivered-log
 * queue and the ack of the ingress copy commit in one AMQP transaction. Before that, a `pending` claim
 * naming the copy (the sender's `x-accord-copy` token) is written to Redis. So, after a crash:
 * - the same copy comes back after a crash → once the delivered-log has been read to the end (a
 *   probe line published after the claim was found pending has been applied by the log's single
 *   active consumer, in whichever replica: transport/delivered-log.ts), the claim says whether the
 *   transaction committed (delivered: answer with the receipt) or not (still pending: deliver it now);
 * - another copy (a resend) finds the claim pending → it waits until the claim resolves: the
 *   delivered-log consumer marks it delivered if the transaction committed, or the first copy, which
 *   the broker requeued, comes back and delivers;
 * - a claim marked delivered → the stored receipt is sent again, nothing is delivered.
 */
import { randomUUID } from 'node:crypto';
import { ENVELOPE_VERSION, Envelope, type EnvelopeOf } from '../domain/envelope.js';
import { parseJson, validate } from '../domain/parse.js';
import type { OpenFacts } from '../crypto/open.js';
import { AccordError, dispositionOf } from '../errors.js';
import { kindSpec, receiveSpecOf, receiptedSpecOf } from '../kinds/index.js';
import { screenRequest, type Screening } from '../policy/screening.js';
import { commitWith, type GatewayContext } from './context.js';
import {
  checkEnvelope,
  decideInbound,
  decideReceipt,
  intakeTarget,
  seenTtlS,
  type IntakePlan,
} from './decide-inbound.js';
import { COPY_HEADER } from './dispatch.js';
import { withoutTrailingWhitespace } from '../crypto/compact.js';
import { eventMessages, executeIntake, executePark, runEffects } from './execute.js';
import type { OpenedAny, OpenedTransfer } from '../crypto/open.js';
import type { MemberEvidence } from '../domain/transfer.js';
import { TransferCommit, singleReceipts, transferReceipts, type ReceiptSink } from './transfer-intake.js';
import { loadFacts } from './facts.js';
import { faultPoint } from '../faults.js';
import type { Incoming, SeenRecord, Tx, TxOutcome } from './ports.js';

/**
 * Parked at once: a message from the peer is never rejected back to it (nothing in it can be trusted to
 * name whom to tell), so `reject` parks it too. Retried and waiting failures go to the consumer.
 */
function parksAtOnce(err: unknown): err is AccordError {
  if (!(err instanceof AccordError)) return false;
  const d = dispositionOf(err.code);
  return d === 'reject' || d === 'park';
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The `id` a parsed envelope claims, when it looks like one (before the envelope is validated). */
function idOf(raw: unknown): string | undefined {
  const id = (raw as { id?: unknown } | null)?.id;
  return typeof id === 'string' && UUID.test(id) ? id : undefined;
}

/** A member of a transfer, parsed once: its JSON, or why it is not JSON (it is refused on its own). */
type ParsedMember = { raw: unknown } | { error: unknown };

/**
 * Each member of a transfer parsed once, as a single message's payload is (the same parser and size
 * limit), with the message id and kind it claims, where it has them: the ids are checked for repeats
 * and read ahead before any member is handled, and each member's handling takes its parse from here.
 */
function membersOf(
  members: readonly string[],
  maxBytes: number,
): { parsed: ParsedMember; id?: string; kind?: unknown }[] {
  return members.map((m) => {
    let raw: unknown;
    try {
      raw = parseJson(m, maxBytes);
    } catch (error) {
      return { parsed: { error } };
    }
    return { parsed: { raw }, id: idOf(raw), kind: (raw as { kind?: unknown } | null)?.kind };
  });
}

/**
 * Whether a member of this kind goes through {@link InboundPipeline.deliver} (a receipt or a heartbeat
 * never does: nothing to read ahead for it), as its kind's spec says.
 */
function isDelivered(kind: unknown): boolean {
  // As receiveSpecOf: a kind without a receive spec of its own is delivered.
  const spec = typeof kind === 'string' ? (kindSpec(kind).receive ?? {}) : {};
  return spec.receipt === undefined && spec.heartbeat === undefined;
}

/** The index of the first member whose message id an earlier member has, if any. */
function repeatedMember(ids: readonly (string | undefined)[]): number | undefined {
  const seen = new Set<string>();
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (id === undefined) continue;
    if (seen.has(id)) return i;
    seen.add(id);
  }
  return undefined;
}

export { DELIVERY_HEADER, type InboxDelivery } from './dispatch.js';

/** How long a resend waits for another copy's pending claim to resolve before it looks again. */
export const PENDING_RECHECK_MS = 1000;

/**
 * How long the gateway remembers when it held a message for its original (Art. 10(4)): the longest
 * hold and a day, so a held copy that comes back late still finds it.
 */
export function holdRecordTtlS(holdMaxHours: number): number {
  return Math.ceil(holdMaxHours * 3600) + 86_400;
}

/**
 * The sealed message as text (kept with a request held for review): once per delivery, however many
 * members of a transfer ask — converting a large transfer for each member cost a fifth of a gateway.
 */
const sealedTexts = new WeakMap<Buffer, string>();
function sealedText(content: Buffer): string {
  let text = sealedTexts.get(content);
  if (text === undefined) {
    text = content.toString('latin1');
    sealedTexts.set(content, text);
  }
  return text;
}

/**
 * A member of a transfer: the transfer's copy token, whether its delivered-log barrier passed, and its
 * de-duplication reads, made for all the members at once.
 */
interface MemberOf {
  copy: string;
  barrierPassed: boolean;
  read?: DeduplicationReads;
}

/** What {@link InboundPipeline.deliver} reads first about a message, to tell a duplicate or a replay. */
interface DeduplicationReads {
  id: string;
  seen: SeenRecord | null;
  takenInBefore: boolean;
}

/**
 * The copy token of a delivery (`x-accord-copy`). A copy without one cannot be told from another; it
 * gets one of its own and is handled as a resend while a claim is pending.
 */
function copyOf(msg: Incoming): string {
  const header = msg.headers[COPY_HEADER];
  return typeof header === 'string' && header.length <= 64 ? header : `untagged-${randomUUID()}`;
}

export class InboundPipeline {
  private readonly log;
  /** The peer's last audit checkpoint hash recorded here (Art. 10(6) anchors). */
  private lastAnchor: string | undefined;
  /** Ids whose delivery began here and has not committed (see {@link uncommittedIntakes}). */
  private readonly uncommitted = new Set<string>();

  constructor(private readonly ctx: GatewayContext) {
    this.log = ctx.deps.log.child({ stage: 'inbound' });
  }

  /**
   * The messages whose delivery began in this process (claimed, records written) and did not commit:
   * their copies come back, so a rebuild after a Redis loss must not mark them delivered.
   */
  uncommittedIntakes(): ReadonlySet<string> {
    return this.uncommitted;
  }

  /** Handle one delivery from accord.ingress; it is acked inside `tx`. Throws to retry it. */
  async handle(delivery: Incoming, tx: Tx): Promise<TxOutcome> {
    const { ctx } = this;
    // The wire boundary: a trailing newline (e.g. `accord envelope seal` output published as it is) is
    // not part of the JWE; from here on the message is the compact serialization alone.
    const content = withoutTrailingWhitespace(delivery.content);
    const msg = content === delivery.content ? delivery : { ...delivery, content };
    const receivedAt = ctx.deps.now();
    const limit = ctx.profile.maxMessageBytes;
    if (msg.content.length > limit) {
      // First thing: an oversize body is parked as it is, never copied to a crypto worker or parsed.
      const error = new AccordError(
        'input.too_large',
        `the sealed message is ${msg.content.length} bytes, the limit is ${limit}`,
      );
      return this.park(tx, error, msg.content, undefined, receivedAt);
    }
    let opened: OpenedAny;
    try {
      opened = await ctx.crypto.openAny(msg.content, ctx.keys, ctx.profile, { urgent: msg.urgent === true });
    } catch (err) {
      if (parksAtOnce(err)) return this.park(tx, err, msg.content, undefined, receivedAt);
      throw err;
    }
    if ('transfer' in opened) return this.takeTransfer(msg, tx, opened.transfer, opened.facts, receivedAt);
    const receipts = singleReceipts(ctx, this.log);
    return this.handleEnvelope(msg, tx, opened.payload, opened.facts, receivedAt, receipts);
  }

  /**
   * A transfer (wire version 2): its members, each an envelope with its own evidence, go through
   * {@link handleEnvelope} one after the other up to their commit, and then commit together, in one
   * AMQP transaction with the ack of the transfer; what each does after its commit (the claim marked,
   * the receipt) follows, and the receipts go back as one transfer. When a member cannot be finished
   * now (it waits for another copy's claim, or fails), nothing of the transfer commits: it comes back,
   * and each member's claim protocol takes it from there (docs/reliability.md).
   */
  private async takeTransfer(
    msg: Incoming,
    tx: Tx,
    transfer: OpenedTransfer,
    facts: OpenFacts,
    receivedAt: Date,
  ): Promise<TxOutcome> {
    const { ctx } = this;
    const parsed = membersOf(transfer.members, ctx.profile.maxMessageBytes);
    const ids = parsed.map((m) => m.id);
    const repeated = repeatedMember(ids);
    if (repeated !== undefined) {
      // Its members would share one copy token, so one could take the other's claim for its own
      // redelivery: refused whole, as the sender never makes one.
      const error = new AccordError('schema.invalid', 'a message id appears twice in the transfer', {
        path: `transfer.members[${repeated}].id`,
      });
      return this.park(tx, error, msg.content, undefined, receivedAt);
    }
    // A peer that sends transfers most likely reads them: ask it now rather than at the next heartbeat.
    ctx.wire.nudge();
    const receipts = transferReceipts(ctx, this.log, msg.urgent === true);
    // One copy token for all the members (a copy without one gets one of its own).
    const copy = copyOf(msg);
    let barrierPassed = false;
    const claims = msg.redelivered ? await this.claimedBy(ids, copy) : undefined;
    if (claims !== undefined) {
      // This copy is back, and holds claims: an attempt of it may have committed (the broker applied
      // it, the answer was lost). One barrier on the delivered-log for the whole transfer, as for one
      // message: once every line committed before now is applied, each member's claim says whether it
      // was delivered. (A barrier per member would need a probe per member, and each attempt that
      // stops at a later member would start them again.) The waiter names the claims' attempts, which
      // each attempt that passes the barrier advances: a replica that began waiting for an earlier
      // attempt (the copy then went to another replica) must not take that wait's answer for this one.
      const waiter = `transfer:${transfer.statement.transfer}:${copy}#${claims.attempts}`;
      if (!(await ctx.deps.deliveredLog.isSettled(waiter))) return { requeueAfterMs: PENDING_RECHECK_MS };
      barrierPassed = true;
    }
    // Each member's own de-duplication reads, for all of them in one round trip (the ids are
    // distinct, so no member writes what another reads; what changes meanwhile, a resend's claim,
    // the claim script still answers, as it does for a read made just before it).
    const reads = await Promise.all(
      parsed.map(({ id, kind }) =>
        id === undefined || !isDelivered(kind) ? Promise.resolve(undefined) : this.deduplicationReads(id),
      ),
    );
    const run = new TransferCommit(tx, this.log);
    for (let i = 0; i < transfer.members.length; i++) {
      const evidence: MemberEvidence = {
        transfer: transfer.statement.transfer,
        statement: transfer.statementJws,
        root: transfer.statement.root,
        index: i,
        count: transfer.statement.count,
        path: transfer.paths[i]!,
      };
      const memberFacts: OpenFacts & { transfer: MemberEvidence } = {
        ...facts,
        jweSha256: transfer.leaves[i]!,
        transfer: evidence,
      };
      const stop = await run.member((mtx) =>
        this.handleEnvelope(msg, mtx, parsed[i]!.parsed, memberFacts, receivedAt, receipts, {
          copy,
          barrierPassed,
          read: reads[i],
        }),
      );
      if (stop !== undefined) {
        this.log.debug(
          { transfer: transfer.statement.transfer, member: i, members: transfer.members.length },
          'a member cannot be finished now: nothing of the transfer commits, and it comes back',
        );
        return stop;
      }
      const n = transfer.members.length;
      if (n > 1 && i + 1 === Math.floor(n / 2)) await faultPoint('transfer-intake:members', n);
    }
    await run.commit();
    await faultPoint('transfer-intake:committed', transfer.members.length);
    await receipts.flush();
    this.log.debug(
      { transfer: transfer.statement.transfer, members: transfer.members.length },
      'transfer taken in',
    );
    return 'done';
  }

  /**
   * The members' pending claims of this copy, if any: how many attempts they record between them
   * (each attempt that passes the barrier marks a new one on the claims it finds).
   */
  private async claimedBy(
    ids: readonly (string | undefined)[],
    copy: string,
  ): Promise<{ attempts: number } | undefined> {
    const seen = await Promise.all(
      ids.map((id) => (id === undefined ? Promise.resolve(null) : this.ctx.deps.state.getSeen(id))),
    );
    const own = seen.filter((r) => r?.state === 'pending' && r.copy === copy);
    if (own.length === 0) return undefined;
    return { attempts: own.reduce((n, r) => n + (r?.attempt ?? 0), 0) };
  }

  /** One envelope, opened and verified: check it, then deliver it, take its receipt, or park it. */
  private async handleEnvelope(
    msg: Incoming,
    tx: Tx,
    payload: Buffer | ParsedMember,
    facts: OpenFacts,
    receivedAt: Date,
    receipts: ReceiptSink,
    member?: MemberOf,
  ): Promise<TxOutcome> {
    const { ctx } = this;
    let envelope: Envelope | undefined;
    let claimedId: string | undefined;
    try {
      // A transfer's member comes parsed (membersOf); a single message's payload is parsed here.
      let raw: unknown;
      if (Buffer.isBuffer(payload)) raw = parseJson(payload, ctx.profile.maxMessageBytes);
      else if ('error' in payload) throw payload.error;
      else raw = payload.raw;
      // The id, when it looks like one, lets an admin trace an authentic but malformed envelope.
      claimedId = idOf(raw);
      envelope = validate(Envelope, raw, 'envelope');
      checkEnvelope(envelope, ctx, receivedAt);
    } catch (err) {
      if (parksAtOnce(err)) return this.park(tx, err, msg.content, envelope?.id ?? claimedId, receivedAt);
      throw err;
    }
    // Authentic and addressed here: the peer gateway is alive, whatever the message is.
    const beat = receiveSpecOf(envelope).heartbeat?.(envelope);
    ctx.deps.liveness.heard(beat !== undefined);
    if (beat !== undefined) {
      await commitWith(tx);
      return 'done';
    }
    const receipt = receiveSpecOf(envelope).receipt?.(envelope);
    if (receipt !== undefined) return this.takeReceipt(tx, receipt, msg.content, receivedAt);
    return this.deliver(msg, tx, envelope, facts, receivedAt, receipts, member);
  }

  private async deliver(
    msg: Incoming,
    tx: Tx,
    env: Envelope,
    facts: OpenFacts,
    receivedAt: Date,
    receipts: ReceiptSink,
    member?: MemberOf,
  ): Promise<TxOutcome> {
    const { ctx } = this;
    const copy = member?.copy ?? copyOf(msg);

    // The de-duplication record and the records that outlive it, read together (one round trip; for a
    // transfer's member, read with the other members').
    const ahead = member?.read?.id === env.id ? member.read : undefined;
    const { seen: firstSeen, takenInBefore } = ahead ?? (await this.deduplicationReads(env.id));
    let seen = firstSeen;
    const again = { env, jweSha256: facts.jweSha256, receivedAt, receipts };
    if (seen?.state === 'delivered') return this.answerDuplicate(tx, again, seen);
    if (seen && seen.copy !== copy) return this.waitForClaim(env.id);
    if (seen) {
      // Our own copy is back, so a crash or a lost connection interrupted its attempt. The commit
      // may still have happened (the broker applied it, then died before answering, and the ack
      // did not survive): its delivered-log line says so. Deliver only once that log is read up to
      // now, by whichever replica applies it (a barrier, not this process's view of the queue). The
      // wait is per attempt: see below.
      const waiter = `${env.id}#${seen.attempt ?? 0}`;
      const settled = member?.barrierPassed === true || (await ctx.deps.deliveredLog.isSettled(waiter));
      if (!settled) return this.waitForClaim(env.id);
      seen = await ctx.deps.state.getSeen(env.id);
      if (seen?.state === 'delivered') return this.answerDuplicate(tx, again, seen);
      // Still pending: that commit did not happen, and this copy delivers now, committing a new line.
      // A replica that began waiting on the log for the last attempt (the copy then went to another
      // replica) must not take that wait's answer for this one, whose line may follow its probe.
      if (seen) await ctx.deps.state.markNewAttempt(env.id);
    } else if (takenInBefore) {
      // No de-duplication record, yet the ledger or a review knows it: the record was lost (deleted,
      // or Redis lost data), and this is a replay. Parked for an admin, never delivered twice.
      const replayed = new AccordError('envelope.replayed', undefined, { messageId: env.id });
      return this.park(tx, replayed, msg.content, env.id, receivedAt);
    }

    // A key announcement or revocation is applied before the claim, so one the key policy
    // refuses is parked without a claim (and a resend is parked the same way). Applying is idempotent.
    const spec = receiveSpecOf(env);
    let keyChange: string | undefined;
    const keyMessage = spec.keyChange?.(env);
    if (keyMessage !== undefined) {
      try {
        keyChange = await ctx.deps.keyExchange.fromPeer(keyMessage, facts.signatureKid);
      } catch (err) {
        if (parksAtOnce(err)) return this.park(tx, err, msg.content, env.id, receivedAt);
        throw err;
      }
    }
    // The facts the kind asks for, and the original it refers to (Art. 10(4)).
    const originalId = spec.original?.(env);
    const known = await loadFacts(
      ctx,
      [spec.lookups?.(env), originalId === undefined ? undefined : { received: [originalId] }],
      {},
      receivedAt,
    );
    // Art. 9(4), 17: the rules, the suspension and the hooks decide before anything is delivered.
    const request = spec.screened?.(env);
    const screening: Screening =
      request === undefined
        ? { outcome: 'accept' }
        : await screenRequest(
            request,
            intakeTarget(env, null, ctx),
            { rules: ctx.config.policy.refusalRules, suspensions: known.suspensions, now: receivedAt },
            ctx.hooks,
            (f) =>
              this.log.warn(
                { messageId: request.id, hook: f.hook, failed: f.failed, code: 'policy.hook_failed' },
                'refusal hook failed; the request goes to manual review',
              ),
          );
    // Art. 10(4): when it was first held, as this gateway recorded it — never a header, which the peer
    // could set to stretch or cut the hold.
    const hold = originalId === undefined ? null : await ctx.deps.state.getHold(env.id);
    const decision = decideInbound(
      env,
      {
        jwe: () => sealedText(msg.content),
        verification: facts,
        receivedAt,
        heldSince: hold?.since,
        keyChange,
        screening,
      },
      known,
    );
    if (decision.action === 'park') return this.park(tx, decision.error, msg.content, env.id, receivedAt);
    if (decision.action === 'hold') return this.hold(msg, tx, env, decision, facts, receivedAt, receipts);
    return this.takeIn(tx, env, decision.plan, seen?.receiptJwe, copy, facts, receivedAt, receipts);
  }

  /**
   * Claim the delivery for this copy (a receipt sealed first, with the plan's status) and carry the
   * plan out; a claim by another copy waits, a delivered one is answered with its receipt.
   */
  private async takeIn(
    tx: Tx,
    env: Envelope,
    plan: IntakePlan,
    storedReceipt: string | undefined,
    copy: string,
    facts: OpenFacts,
    receivedAt: Date,
    receipts: ReceiptSink,
  ): Promise<TxOutcome> {
    const { ctx } = this;
    const receiptJwe =
      storedReceipt ??
      (await receipts.prepare(this.receiptFor(env, facts.jweSha256, receivedAt, plan.status)));
    const claim =
      storedReceipt !== undefined
        ? { outcome: 'same-copy' as const }
        : await ctx.deps.state.claim(
            env.id,
            {
              copy,
              jweSha256: facts.jweSha256,
              receiptJwe,
              kind: env.kind,
              fromAuthority: env.from.authority,
              toAuthority: plan.target,
            },
            seenTtlS(env, receivedAt, ctx.config),
          );
    if (claim.outcome === 'delivered') {
      return this.answerDuplicate(
        tx,
        { env, jweSha256: facts.jweSha256, receivedAt, receipts },
        claim.record,
      );
    }
    if (claim.outcome === 'other-copy') return this.waitForClaim(env.id);
    // Until its transaction commits, a rebuild after a Redis loss must not take it for delivered.
    this.uncommitted.add(env.id);
    const urgent = env.priority === 'urgent';
    await executeIntake(
      ctx,
      tx,
      env.id,
      plan,
      () => receipts.send(receiptJwe, env.id, urgent),
      this.log,
      () => this.uncommitted.delete(env.id),
    );
    return 'done';
  }

  /**
   * Art. 10(4): a correction or erasure whose original has not arrived is taken in without delivery:
   * it waits in the held queue, which returns it to the ingress after `holdRetryS`, until the original
   * is here — or, after `holdMaxHours`, it is parked. The hold's start is recorded in Redis, keyed by
   * the message id, before the held copy commits; until the sender has its `held` receipt (so it stops
   * resending), each return sends it.
   */
  private async hold(
    msg: Incoming,
    tx: Tx,
    env: Envelope,
    held: { refersTo: string; since: string; first: boolean },
    facts: OpenFacts,
    receivedAt: Date,
    receipts: ReceiptSink,
  ): Promise<TxOutcome> {
    const { ctx } = this;
    const ttlS = holdRecordTtlS(ctx.config.dataProtection.holdMaxHours);
    const recorded = await ctx.deps.state.startHold(env.id, held.since, ttlS);
    await commitWith(tx, {
      queue: ctx.names.held,
      content: msg.content,
      props: {
        contentType: 'application/jose',
        messageId: env.id,
        // Only the copy token goes along; whatever else the peer set is not carried into the held queue.
        headers:
          typeof msg.headers[COPY_HEADER] === 'string' ? { [COPY_HEADER]: msg.headers[COPY_HEADER] } : {},
      },
    });
    if (held.first) {
      this.log.info(
        { messageId: env.id, refersTo: held.refersTo, kind: env.kind },
        'held: the message it refers to has not arrived (Art. 10(4))',
      );
    }
    if (!recorded.told) {
      const kept = await receipts.prepare(this.receiptFor(env, facts.jweSha256, receivedAt, 'held'));
      await receipts.send(kept, env.id, env.priority === 'urgent');
      await ctx.deps.state.markHoldTold(env.id);
    }
    return 'done';
  }

  /**
   * Whether message `id` was taken in before, by the records that outlive its de-duplication record:
   * the ledger (delivered to an authority; kept `policy.identifierRetentionDays`) and the review
   * store (held for a person).
   */
  /** A message's de-duplication record and whether the records that outlive it know it: one round trip. */
  private async deduplicationReads(id: string): Promise<DeduplicationReads> {
    const [seen, takenInBefore] = await Promise.all([
      this.ctx.deps.state.getSeen(id),
      this.takenInBefore(id),
    ]);
    return { id, seen, takenInBefore };
  }

  private async takenInBefore(id: string): Promise<boolean> {
    const { ledger, reviews } = this.ctx.deps;
    const [received, review] = await Promise.all([ledger.getReceived(id), reviews.get(id)]);
    return received !== null || review !== null;
  }

  /**
   * Delivered before: not again. The same receipt goes back, so the sender stops resending; a record
   * rebuilt after a Redis loss has none, and a receipt with status `duplicate` is sealed for this copy.
   */
  private async answerDuplicate(
    tx: Tx,
    again: { env: Envelope; jweSha256: string; receivedAt: Date; receipts: ReceiptSink },
    seen: SeenRecord,
  ): Promise<TxOutcome> {
    const id = again.env.id;
    const kept =
      seen.rebuilt === true
        ? await again.receipts.prepare(
            this.receiptFor(again.env, again.jweSha256, again.receivedAt, 'duplicate'),
          )
        : seen.receiptJwe;
    await again.receipts.send(kept, id, again.env.priority === 'urgent');
    await commitWith(tx);
    this.ctx.deps.metrics.message('in', 'any', 'duplicate');
    this.log.info({ messageId: id }, 'duplicate; receipt sent again');
    return 'done';
  }

  private waitForClaim(id: string): TxOutcome {
    this.log.debug({ messageId: id }, 'another copy holds a pending claim; waiting');
    return { requeueAfterMs: PENDING_RECHECK_MS };
  }

  /** The receipt of a message: sealed by the sink, alone or in its transfer's. */
  private receiptFor(
    env: Envelope,
    jweSha256: string,
    receivedAt: Date,
    status: 'delivered' | 'duplicate' | 'refused' | 'in-review' | 'held',
  ): EnvelopeOf<'receipt'> {
    const { ctx } = this;
    const now = ctx.deps.now();
    const anchor = ctx.deps.audit.latestCheckpointHash();
    const receipt: EnvelopeOf<'receipt'> = {
      v: ENVELOPE_VERSION,
      id: randomUUID(),
      kind: 'receipt',
      from: env.to,
      to: env.from,
      createdAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + ctx.config.messages.defaultTtlS * 1000).toISOString(),
      priority: env.priority,
      language: 'en',
      handling: { purposes: [], conditions: [], sensitive: [] },
      body: {
        forMessageId: env.id,
        jweSha256,
        receivedAt: receivedAt.toISOString(),
        status,
        // Art. 10(6): the peer keeps this as an anchor of our records.
        ...(anchor === undefined ? {} : { auditAnchor: anchor }),
      },
    };
    return receipt;
  }

  /** A receipt for something this gateway sent: check it against the record, then report it. */
  private async takeReceipt(
    tx: Tx,
    receipt: EnvelopeOf<'receipt'>,
    content: Buffer,
    at: Date,
  ): Promise<TxOutcome> {
    const { ctx } = this;
    const id = receipt.body.forMessageId;
    const sent = await ctx.deps.state.getSent(id);
    const facts = await loadFacts(
      ctx,
      sent === null ? [] : [receiptedSpecOf(sent.kind).lookups?.(id)],
      {},
      at,
    );
    // No record: never sent from here, or lost with Redis's data (then this waits for the rebuild).
    if (sent === null) await ctx.deps.state.assertIntact();
    const decision = decideReceipt(receipt, sent, facts);
    if (decision.action === 'park') return this.park(tx, decision.error, content, receipt.id, at);
    const anchor = receipt.body.auditAnchor;
    if (anchor !== undefined && anchor !== this.lastAnchor) {
      // Art. 10(6): the peer's latest signed checkpoint, held here as an anchor of its records.
      await ctx.deps.audit.append({
        type: 'peer-anchor',
        messageId: receipt.id,
        fromAuthority: ctx.config.peer.party,
        anchor,
        refersTo: id,
      });
      this.lastAnchor = anchor;
    }
    if (decision.action === 'settled' || sent === null) {
      await commitWith(tx);
      return 'done';
    }
    const deliveredAt = at.toISOString();
    await runEffects(ctx, decision.effects, this.log);
    // The event commits with the ack; the mark follows. A crash between them repeats the event
    // (at least once) rather than losing it.
    await commitWith(tx, ...eventMessages(ctx, decision.events));
    const first = await ctx.deps.state.markDelivered(id, deliveredAt);
    if (decision.untold) {
      // Gateway to gateway, no authority to tell.
      if (first) ctx.deps.metrics.message('out', sent.kind, 'delivered');
      return 'done';
    }
    if (first) {
      const outcome = receipt.body.status === 'duplicate' ? 'delivered' : receipt.body.status;
      ctx.deps.metrics.message('out', sent.kind, outcome);
      if (outcome === 'delivered' && sent.sentAt) {
        ctx.deps.metrics.receiptLatency((at.getTime() - Date.parse(sent.sentAt)) / 1000);
      }
    }
    this.log.info({ messageId: id, status: receipt.body.status }, 'receipt');
    return 'done';
  }

  private async park(
    tx: Tx,
    err: AccordError,
    content: Buffer,
    messageId: string | undefined,
    at: Date,
  ): Promise<TxOutcome> {
    await executePark(this.ctx, tx, err, content, messageId, at, this.log);
    return 'done';
  }
}
