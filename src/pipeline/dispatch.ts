/**
 * Sending one envelope to the peer, for every message this gateway originates: a case system's
 * submission (outbound.ts) or a notice the gateway writes itself (a rule's refusal, inbound.ts).
 * The sealed JWE is stored before it is published, write-once, so that every later attempt — a crash,
 * a redelivery, a resend — sends the same bytes and the peer can de-duplicate them.
 */
import { createHash, randomUUID } from 'node:crypto';
import { seal } from '../crypto/seal.js';
import type { Envelope } from '../domain/envelope.js';
import type { GatewayContext } from './context.js';
import type { SentRecord } from './ports.js';

/** AMQP priority of the urgent lane (Art. 9(1)); normal traffic has none. */
export const URGENT_PRIORITY = 9;

/**
 * Header naming one physical copy of a sealed message on the peer link (a fresh UUID per publish).
 * The receiver uses it to tell its own crashed attempt from another copy (see inbound.ts).
 */
export const COPY_HEADER = 'x-accord-copy';

/** The stored record of an envelope, sealing and storing it first if this is the first attempt. */
export async function sealedRecord(
  ctx: GatewayContext,
  envelope: Envelope,
  meta: { idempotencyKey: string },
): Promise<SentRecord> {
  const existing = await ctx.deps.state.getSent(envelope.id);
  if (existing) return existing;
  const jwe = await seal(Buffer.from(JSON.stringify(envelope)), ctx.keys, ctx.profile);
  const record: SentRecord = {
    jwe,
    jweSha256: createHash('sha256').update(jwe).digest('hex'),
    from: envelope.from.authority,
    idempotencyKey: meta.idempotencyKey,
    kind: envelope.kind,
    toParty: envelope.to.party,
    toAuthority: envelope.to.authority,
    sealedAt: envelope.createdAt,
  };
  // The record outlives the message and every resend of it.
  const ttlS = Math.ceil((Date.parse(envelope.expiresAt) - Date.parse(envelope.createdAt)) / 1000) + 86_400;
  return ctx.deps.state.putSealed(envelope.id, record, ttlS);
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
  await ctx.deps.peer.publish(ctx.peerNames.ingress, Buffer.from(record.jwe, 'latin1'), {
    contentType: 'application/jose',
    messageId: id,
    headers: { [COPY_HEADER]: randomUUID() },
    ...(urgent ? { priority: URGENT_PRIORITY } : {}),
  });
  const sentAt = ctx.deps.now().toISOString();
  await ctx.deps.state.markSent(id, sentAt);
  await ctx.deps.timers.schedule(id);
  return sentAt;
}
