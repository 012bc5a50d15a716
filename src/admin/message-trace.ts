/**
 * One message's timeline for the administrator on call, from what the gateway keeps — the sent record
 * (sealed, sent, receipted, failed), the receiving side's de-duplication record and ledger (received,
 * destroy-by, destroyed), a review held for it, and the Art. 10(6) audit records that name it. Ids,
 * times, kinds, authorities and codes only; never content. `accord trace` prints it; the admin server
 * serves it as `GET /api/trace/<id>`.
 */
import { createReadStream, existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Redis } from 'ioredis';
import { AuditRecordSchema, auditFileOf, type AuditRecord } from '../audit/log.js';
import { names, type Config } from '../config.js';
import { RedisLedger } from '../store/redis-ledger.js';
import { RedisReviews } from '../store/redis-review.js';
import { RedisMessageState } from '../store/redis-state.js';

/** One step of the timeline. */
export interface TraceStep {
  at: string;
  what: string;
}

/** What the gateway knows of a message: `facts` as sentences, `steps` in time order. */
export interface MessageTrace {
  messageId: string;
  known: boolean;
  facts: string[];
  steps: TraceStep[];
}

/** The audit records that name `id`, as timeline steps; the log is read as a stream. */
async function auditSteps(file: string, id: string): Promise<TraceStep[]> {
  if (!existsSync(file)) return [];
  const steps: TraceStep[] = [];
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.includes(id)) continue;
    let rec: AuditRecord;
    try {
      rec = AuditRecordSchema.parse(JSON.parse(line));
    } catch {
      continue;
    }
    if (rec.messageId !== id && rec.refersTo !== id) continue;
    const facts = [
      rec.kind,
      rec.fromAuthority && rec.toAuthority ? `${rec.fromAuthority} → ${rec.toAuthority}` : undefined,
      rec.subjectCount === undefined ? undefined : `${rec.subjectCount} data subject(s)`,
      rec.reason,
      rec.decidedBy === undefined ? undefined : `by ${rec.decidedBy}`,
      rec.messageId !== id ? `(record of ${rec.messageId ?? '-'})` : undefined,
    ].filter((f) => f !== undefined);
    steps.push({ at: rec.time, what: `record #${rec.seq} ${rec.type}: ${facts.join('; ')}` });
  }
  return steps;
}

/** The timeline of message `id` (a checked UUID). */
export async function traceMessage(redis: Redis, config: Config, id: string): Promise<MessageTrace> {
  const prefix = names(config.namespace).redisPrefix;
  const steps: TraceStep[] = [];
  const header: string[] = [];
  const state = new RedisMessageState(redis, prefix);
  const sent = await state.getSent(id);
  if (sent) {
    header.push(`sent by ${config.party}/${sent.from} to ${sent.toParty}/${sent.toAuthority}, ${sent.kind}`);
    steps.push({
      at: sent.sealedAt,
      what:
        sent.jwe === undefined
          ? `sealed in transfer ${sent.transfer ?? '?'} (leaf SHA-256 ${sent.jweSha256.slice(0, 16)}…)`
          : `sealed (${sent.jwe.length} bytes, SHA-256 ${sent.jweSha256.slice(0, 16)}…)`,
    });
    if (sent.sentAt) steps.push({ at: sent.sentAt, what: 'published to the peer (broker confirmed)' });
    if (sent.deliveredAt) steps.push({ at: sent.deliveredAt, what: 'signed receipt from the peer' });
    if (sent.failedAt)
      steps.push({ at: sent.failedAt, what: 'failed: no receipt after the last resend (accord.dlq)' });
  }
  const ledger = new RedisLedger(redis, prefix, 1);
  const provided = await ledger.getProvided(id);
  if (provided?.destroyBy) header.push(`the peer must destroy its personal data by ${provided.destroyBy}`);
  const seen = await state.getSeen(id);
  const received = await ledger.getReceived(id);
  if (seen) {
    header.push(
      `received from ${config.peer.party}/${seen.fromAuthority} for ${seen.toAuthority}, ${seen.kind}; claim ${seen.state}`,
    );
  }
  if (received) {
    if (!seen)
      header.push(
        `received from ${config.peer.party}/${received.fromAuthority} for ${received.authority}, ${received.kind}`,
      );
    steps.push({ at: received.receivedAt, what: `taken in for ${received.authority}` });
    if (received.personal)
      header.push(`personal data: destroy by ${received.destroyBy ?? '(no deadline)'}; ${received.state}`);
    if (received.destroyedAt)
      steps.push({
        at: received.destroyedAt,
        what: `personal data destroyed (${received.destroyReason ?? '?'})`,
      });
  }
  const review = await new RedisReviews(redis, prefix).get(id);
  if (review) {
    steps.push({ at: review.receivedAt, what: `held for review by ${review.authority}` });
    if (review.decidedAt)
      steps.push({ at: review.decidedAt, what: `review decided: ${review.decision ?? '?'}` });
  }
  steps.push(...(await auditSteps(auditFileOf(config), id)));
  steps.sort((a, b) => a.at.localeCompare(b.at));
  return { messageId: id, known: header.length > 0 || steps.length > 0, facts: header, steps };
}
