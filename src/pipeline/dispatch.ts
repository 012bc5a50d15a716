/**
 * Sending one envelope to the peer, for every message this gateway originates: a case system's
 * submission (outbound.ts) or a notice the gateway writes itself (a rule's refusal, inbound.ts).
 * The sealed JWE is stored before it is published, write-once, so that every later attempt — a crash,
 * a redelivery, a resend — sends the same bytes and the peer can de-duplicate them.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { OpenFacts } from '../crypto/open.js';
import { ENVELOPE_VERSION, Envelope, URGENT_PRIORITY, type EnvelopeOf } from '../domain/envelope.js';
import { messageIdFor } from '../domain/ids.js';
import { validate } from '../domain/parse.js';
import { AccordError, UnroutableError } from '../errors.js';
import type { MemberEvidence } from '../domain/transfer.js';
import type { GatewayContext, Outgoing } from './context.js';
import type { Publisher, PublishProps, SealedCopy, SentRecord } from './ports.js';
import type { Names } from '../config.js';
import { messageRecord } from '../audit/records.js';
import { carriesPersonalData } from '../policy/personal-data.js';

export { URGENT_PRIORITY } from '../domain/envelope.js';

/**
 * Header naming one physical copy of a sealed message on the peer link (a fresh UUID per publish).
 * The receiver uses it to tell its own crashed attempt from another copy (see inbound.ts).
 */
export const COPY_HEADER = 'x-accord-copy';

/**
 * Header of a resend request on accord.outbox (`accord dlq replay` of a `delivery.no_receipt` letter):
 * the id of a sent message whose stored sealed JWE is to be sent to the peer again. Its body is empty.
 */
export const RESEND_HEADER = 'x-accord-resend';

/**
 * The AMQP properties of one copy of a sealed message on the peer link, the same for the first send
 * and every resend (schedule/receipts.ts): an urgent message keeps the Art. 9(1) lane when resent.
 */
export function peerPublishProps(id: string, urgent: boolean): PublishProps {
  return {
    contentType: 'application/jose',
    messageId: id,
    headers: { [COPY_HEADER]: randomUUID() },
    ...(urgent ? { priority: URGENT_PRIORITY } : {}),
  };
}

/** The record kept of a message sent (without its sealed bytes), and how long it is kept. */
export function sentRecordOf(envelope: Envelope, meta: { idempotencyKey: string }) {
  const record: Omit<SentRecord, 'jweSha256'> = {
    from: envelope.from.authority,
    idempotencyKey: meta.idempotencyKey,
    kind: envelope.kind,
    toParty: envelope.to.party,
    toAuthority: envelope.to.authority,
    sealedAt: envelope.createdAt,
    urgent: envelope.priority === 'urgent',
  };
  // The record outlives the message and every resend of it.
  const ttlS = Math.ceil((Date.parse(envelope.expiresAt) - Date.parse(envelope.createdAt)) / 1000) + 86_400;
  return { record, ttlS };
}

/**
 * Publish a message's stored sealed bytes to the peer: its own JWE on the ingress key, or the transfer
 * it went in on the transfer key (named by the transfer's id) — for the first send and every resend.
 */
export function publishSealedCopy(
  peer: Publisher,
  peerNames: Pick<Names, 'ingress' | 'transferRoute'>,
  copy: SealedCopy,
  id: string,
  urgent: boolean,
): Promise<void> {
  return peer.publish(
    copy.transfer === undefined ? peerNames.ingress : peerNames.transferRoute,
    Buffer.from(copy.jwe, 'latin1'),
    peerPublishProps(copy.transfer ?? id, urgent),
  );
}

/** The stored record of an envelope, sealing and storing it first if this is the first attempt. */
export async function sealedRecord(
  ctx: GatewayContext,
  envelope: Envelope,
  meta: { idempotencyKey: string },
): Promise<SentRecord> {
  const existing = await ctx.deps.state.getSent(envelope.id);
  if (existing) return existing;
  const jwe = await ctx.crypto.seal(Buffer.from(JSON.stringify(envelope)), ctx.keys, ctx.profile, {
    urgent: envelope.priority === 'urgent',
  });
  const { record, ttlS } = sentRecordOf(envelope, meta);
  const rec: SentRecord = { ...record, jwe, jweSha256: createHash('sha256').update(jwe).digest('hex') };
  return ctx.deps.state.putSealed(envelope.id, rec, ttlS);
}

/**
 * Publish the sealed message to the peer's ingress (broker confirm), record it as sent and schedule the
 * receipt check. Returns when it was sent.
 */
export async function sendToPeer(
  ctx: GatewayContext,
  id: string,
  record: SentRecord,
  urgent: boolean,
): Promise<string> {
  const first = record.sentAt === undefined;
  const copy = await ctx.deps.state.sealedCopy(record);
  if (copy === null) {
    throw new AccordError('infra.unavailable', 'the sealed copy of this message is gone from Redis', {
      messageId: id,
    });
  }
  if (first) ctx.deps.metrics.sending(1);
  try {
    await publishSealedCopy(ctx.deps.peer, ctx.peerNames, copy, id, urgent);
  } catch (err) {
    if (first) ctx.deps.metrics.sending(-1);
    if (copy.transfer !== undefined && first && err instanceof UnroutableError) {
      // Stored in a transfer that never reached the peer, which reads none now: forgotten, so that the
      // retry sends it as a single message (wire version 1).
      ctx.wire.unroutable();
      await ctx.deps.state.forgetTransfer(copy.transfer, [id]);
    }
    throw err;
  }
  const sentAt = ctx.deps.now().toISOString();
  await ctx.deps.state.markSent(id, sentAt);
  await ctx.deps.timers.schedule(id);
  return sentAt;
}

/** Header of an inbox message: a token unique to that message (see inbound.ts). */
export const DELIVERY_HEADER = 'x-accord-delivery';

/** What a case system receives in accord.inbox.<authority> (and, held for review, accord.review.<authority>). */
export interface InboxDelivery {
  envelope: Envelope;
  /** Art. 9(2): set when the request was addressed to this other authority and referred here. */
  referredFrom?: string;
  /** The handling conditions, shown apart: purposes, conditions, Art. 10(2) sensitive categories. */
  handling: Envelope['handling'];
  verification: OpenFacts & { receivedAt: string; verifiedBy: string; transfer?: MemberEvidence };
  /** Art. 9(4): for a request held for review, why it is held (rules and hooks, not data). */
  review?: { reasons: { by: string; why: string }[]; decisions: readonly string[] };
  /** Art. 9(4): for a request delivered after review, the decision it was accepted under. */
  decision?: {
    decision: 'accept' | 'accept-with-conditions' | 'refuse-partial';
    decisionId: string;
    decidedBy: string;
    conditions?: string[];
    refusedParts?: string[];
  };
}

/** The decisions a reviewer may take (Art. 9(4)); see `DecisionSubmission`. */
export const REVIEW_DECISIONS = ['accept', 'accept-with-conditions', 'refuse-partial', 'refuse'] as const;

/** The message to put in an authority's inbox (or review queue), urgent ones in the priority lane. */
export function inboxMessage(queue: string, delivery: InboxDelivery): Outgoing {
  const env = delivery.envelope;
  return {
    queue,
    content: Buffer.from(JSON.stringify(delivery)),
    props: {
      contentType: 'application/json',
      messageId: env.id,
      type: env.kind,
      // One token per inbox message: a case system tells the broker's redelivery of one message
      // (same token) from a second message (which the gateway promises never to send).
      headers: { [DELIVERY_HEADER]: randomUUID() },
      ...(env.priority === 'urgent' ? { priority: URGENT_PRIORITY } : {}),
    },
  };
}

/** The notices a gateway writes itself about a request (Art. 9(2), 9(4), 9(5)). */
export type NoticeContent =
  | Pick<EnvelopeOf<'refusal-notice'>, 'kind' | 'body'>
  | Pick<EnvelopeOf<'referral-notice'>, 'kind' | 'body'>
  | (Pick<EnvelopeOf<'acceptance-notice'>, 'kind' | 'body'> & { conditions: string[] });

const noticeKey = (request: EnvelopeOf<'request'>, what: string) => `${what}/${request.id}`;

/** The message id of the notice `what` about a request (see {@link sendNotice}). */
export function noticeIdFor(party: string, request: EnvelopeOf<'request'>, what: string): string {
  return messageIdFor(party, request.to.authority, noticeKey(request, what));
}

/**
 * Send a notice the gateway writes itself about a request, from the addressed authority to the
 * requester. Its id follows from the request and `what`, so a retry sends the same notice, which the
 * peer de-duplicates; it is stored, receipted and resent like any message this gateway sends.
 */
export async function sendNotice(
  ctx: GatewayContext,
  request: EnvelopeOf<'request'>,
  what: string,
  content: NoticeContent,
): Promise<string> {
  const { conditions, ...notice } = { conditions: [] as string[], ...content };
  return sendOwn(ctx, {
    key: noticeKey(request, what),
    from: request.to,
    to: request.from,
    priority: request.priority,
    conditions,
    content: notice,
  });
}

/**
 * Art. 10(4), 10(5): the recipient's signed confirmation to the provider that it corrected or destroyed
 * data. Its id follows from what it confirms, so a retry sends the same notice.
 */
export async function sendConfirmation(
  ctx: GatewayContext,
  from: string,
  to: string,
  body: EnvelopeOf<'confirmation-notice'>['body'],
): Promise<string> {
  return sendOwn(ctx, {
    key: `confirmation/${body.action}/${body.refersTo}`,
    from: { party: ctx.config.party, authority: from },
    to: { party: ctx.config.peer.party, authority: to },
    priority: 'normal',
    conditions: [],
    content: { kind: 'confirmation-notice', body },
  });
}

/** A key announcement or revocation, as the gateway writes it (keys/exchange.ts). */
export type KeyMessage = {
  /** What its id follows from (`key-announcement/KID`, `key-revocation/KID`): a repeat is the same message. */
  key: string;
  content:
    | Pick<EnvelopeOf<'key-announcement'>, 'kind' | 'body'>
    | Pick<EnvelopeOf<'key-revocation'>, 'kind' | 'body'>;
};

/**
 * Key announcements and revocations, from this gateway to the peer's, between the first authorities of
 * both directories (gateway to gateway: nothing is delivered to an authority). Every one is sealed and
 * stored before the first is sent: the peer's receipt for an announced signing key makes that key
 * active here, and an announcement sealed after that would be signed with a key the peer may still
 * hold for approval (`crypto.key_held`) — it would wait there instead of pinning its key. `stored` is
 * told each stored message's id before the first is sent (what a receipt refers to is known before it
 * can come back). Each message that cannot be sealed or sent is given to `failed` (the others go on);
 * returns the id of each one sent.
 */
export async function sendKeyMessages(
  ctx: GatewayContext,
  messages: KeyMessage[],
  hooks: {
    stored: (ids: Map<KeyMessage, string>) => Promise<void>;
    failed: (m: KeyMessage, err: unknown) => void;
  },
): Promise<Map<KeyMessage, string>> {
  const [from] = ctx.config.authorities;
  const to = [...ctx.peerAuthorities][0];
  const sealed: { m: KeyMessage; own: StoredOwn }[] = [];
  for (const m of messages) {
    try {
      const own = await storeOwn(ctx, {
        key: m.key,
        from: { party: ctx.config.party, authority: from!.id },
        to: { party: ctx.config.peer.party, authority: to ?? ctx.config.peer.authorities[0]!.id },
        priority: 'urgent',
        conditions: [],
        content: m.content,
      });
      sealed.push({ m, own });
    } catch (err) {
      hooks.failed(m, err);
    }
  }
  await hooks.stored(new Map(sealed.map(({ m, own }) => [m, own.envelope.id])));
  const sent = new Map<KeyMessage, string>();
  for (const { m, own } of sealed) {
    try {
      sent.set(m, await sendStored(ctx, own));
    } catch (err) {
      hooks.failed(m, err);
    }
  }
  return sent;
}

/** A message the gateway writes itself: a notice, a confirmation, a key message. */
type OwnMessage = {
  key: string;
  from: Envelope['from'];
  to: Envelope['to'];
  priority: Envelope['priority'];
  conditions: string[];
  content: { kind: string; body: unknown };
};

/** Seal, store and send a message the gateway writes itself; returns its id. */
async function sendOwn(ctx: GatewayContext, m: OwnMessage): Promise<string> {
  return sendStored(ctx, await storeOwn(ctx, m));
}

/** A message the gateway wrote itself, sealed and stored, not yet sent. */
type StoredOwn = { envelope: Envelope; record: SentRecord };

/** Seal and store a message the gateway writes itself (a repeat finds the copy stored the first time). */
async function storeOwn(ctx: GatewayContext, m: OwnMessage): Promise<StoredOwn> {
  const now = ctx.deps.now();
  const id = messageIdFor(ctx.config.party, m.from.authority, m.key);
  const envelope = validate(
    Envelope,
    {
      v: ENVELOPE_VERSION,
      id,
      from: m.from,
      to: m.to,
      createdAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + ctx.config.messages.defaultTtlS * 1000).toISOString(),
      priority: m.priority,
      language: 'en',
      // Conditions of an acceptance travel signed in the handling, where every delivery shows them.
      handling: { purposes: [], conditions: m.conditions, sensitive: [] },
      ...m.content,
    },
    'notice',
  );
  return { envelope, record: await sealedRecord(ctx, envelope, { idempotencyKey: m.key }) };
}

/** Send a stored message the gateway wrote itself, count and record it; returns its id. */
async function sendStored(ctx: GatewayContext, { envelope, record }: StoredOwn): Promise<string> {
  await sendToPeer(ctx, envelope.id, record, envelope.priority === 'urgent');
  // Counted like a submission sent (once, not on a retry), so its receipt has a `sent` to match.
  if (record.sentAt === undefined) ctx.deps.metrics.message('out', envelope.kind, 'sent');
  await ctx.deps.audit.append(messageRecord(envelope, 'out'));
  return envelope.id;
}

/**
 * Art. 10(5): a message from the peer is now in an authority's hands (delivered to its inbox, directly
 * or after a review). The ledger keeps it (corrections, usage reports and the termination refer to it),
 * and personal data get their destruction deadline. Idempotent: a retry repeats it harmlessly.
 */
export async function nowHeldBy(
  ctx: GatewayContext,
  env: Envelope,
  authority: string,
  receivedAt: string,
): Promise<void> {
  const personal = carriesPersonalData(env.kind, env.body);
  const destroyBy = env.handling.destroyBy;
  await ctx.deps.ledger.received({
    id: env.id,
    kind: env.kind,
    fromAuthority: env.from.authority,
    authority,
    receivedAt,
    personal,
    ...(destroyBy === undefined ? {} : { destroyBy }),
  });
  if (personal && destroyBy !== undefined) {
    await ctx.deps.deadlines.schedule({ kind: 'destruction-due', id: env.id, authority, dueAt: destroyBy });
  }
}

/** How long a heartbeat's signed envelope is valid (the broker drops it after one interval anyway). */
const HEARTBEAT_VALIDITY_MS = 3_600_000;

/**
 * Gateway liveness: seal a heartbeat and publish it to the peer on its own routing key, with a broker
 * TTL of one interval (src/kinds/heartbeat.ts). Nothing is stored, scheduled or recorded: a heartbeat
 * that is lost is simply replaced by the next. Rejects when the publish fails — unroutable when the peer
 * runs a version without heartbeats.
 */
export async function sendHeartbeat(ctx: GatewayContext, intervalS: number): Promise<void> {
  const now = ctx.deps.now();
  const [from] = ctx.config.authorities;
  const to = [...ctx.peerAuthorities][0] ?? ctx.config.peer.authorities[0]!.id;
  const envelope = validate(
    Envelope,
    {
      v: ENVELOPE_VERSION,
      id: randomUUID(),
      kind: 'heartbeat',
      from: { party: ctx.config.party, authority: from!.id },
      to: { party: ctx.config.peer.party, authority: to },
      createdAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + HEARTBEAT_VALIDITY_MS).toISOString(),
      priority: 'normal',
      language: 'en',
      handling: { purposes: [], conditions: [], sensitive: [] },
      body: { intervalS },
    },
    'heartbeat',
  );
  const text = JSON.stringify(envelope);
  // Wire version 2 first: routed, the peer reads transfers; returned, it does not (transfer-send.ts).
  const props: PublishProps = {
    contentType: 'application/jose',
    messageId: envelope.id,
    // Ahead of queued bulk traffic (a busy ingress is not a silent gateway), gone after one interval.
    priority: URGENT_PRIORITY,
    expirationMs: intervalS * 1000,
  };
  if (await ctx.wire.probe(ctx, text, props)) return;
  const jwe = await ctx.crypto.seal(Buffer.from(text), ctx.keys, ctx.profile, {});
  await ctx.deps.peer.publish(ctx.peerNames.heartbeatRoute, Buffer.from(jwe, 'latin1'), props);
}
