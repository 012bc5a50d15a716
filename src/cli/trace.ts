/**
 * `accord trace MESSAGE_ID`: one message's timeline for the administrator on call, from what the
 * gateway keeps — the sent record (sealed, sent, receipted, failed), the receiving side's de-duplication
 * record and ledger (received, destroy-by, destroyed), a review held for it, and the Art. 10(6) audit
 * records that name it. Ids, times, kinds, authorities and codes only; never content. Exit 1 when the
 * gateway knows nothing of the id.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { Redis } from 'ioredis';
import { IGNORE_REDIS_ERRORS, redisConnection } from '../store/redis-connect.js';
import { z } from 'zod';
import { AuditRecordSchema, type AuditRecord } from '../audit/log.js';
import { loadConfig, names } from '../config.js';
import { AccordError } from '../errors.js';
import { auditFileOf } from '../audit/log.js';
import { RedisLedger } from '../store/redis-ledger.js';
import { RedisReviews } from '../store/redis-review.js';
import { RedisMessageState } from '../store/redis-state.js';
import { EXIT_OK, EXIT_REFUSED, reportError } from './exit.js';

interface Step {
  at: string;
  what: string;
}

/** The audit records that name `id`, as timeline steps. */
function auditSteps(file: string, id: string): Step[] {
  if (!existsSync(file)) return [];
  const steps: Step[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
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

export function registerTrace(program: Command): void {
  program
    .command('trace')
    .description("one message's timeline: sent, receipted, delivered, reviewed, destroyed, and its records")
    .argument('<messageId>', 'the message id (from an event, a dead letter or the case system)')
    .requiredOption('--config <file>', 'the gateway config')
    .option('--json', 'print {messageId, facts, steps} as one JSON object')
    .action(async (messageId: string, opts: { config: string; json?: boolean }) => {
      let redis: Redis | undefined;
      try {
        const id = z.uuid().safeParse(messageId);
        if (!id.success)
          throw new AccordError('schema.invalid', 'the message id is a UUID', { path: 'messageId' });
        const config = loadConfig(opts.config);
        const prefix = names(config.namespace).redisPrefix;
        redis = redisConnection(
          config.redis,
          { lazyConnect: true, maxRetriesPerRequest: 1 },
          IGNORE_REDIS_ERRORS,
        );
        await redis.connect().catch((err: unknown) => {
          throw new AccordError('infra.unavailable', 'cannot reach Redis', { cause: err });
        });
        const steps: Step[] = [];
        const header: string[] = [];
        const state = new RedisMessageState(redis, prefix);
        const sent = await state.getSent(id.data);
        if (sent) {
          header.push(
            `sent by ${config.party}/${sent.from} to ${sent.toParty}/${sent.toAuthority}, ${sent.kind}`,
          );
          steps.push({
            at: sent.sealedAt,
            what: `sealed (${sent.jwe.length} bytes, SHA-256 ${sent.jweSha256.slice(0, 16)}…)`,
          });
          if (sent.sentAt) steps.push({ at: sent.sentAt, what: 'published to the peer (broker confirmed)' });
          if (sent.deliveredAt) steps.push({ at: sent.deliveredAt, what: 'signed receipt from the peer' });
          if (sent.failedAt)
            steps.push({ at: sent.failedAt, what: 'failed: no receipt after the last resend (accord.dlq)' });
        }
        const ledger = new RedisLedger(redis, prefix, 1);
        const provided = await ledger.getProvided(id.data);
        if (provided?.destroyBy)
          header.push(`the peer must destroy its personal data by ${provided.destroyBy}`);
        const seen = await state.getSeen(id.data);
        const received = await ledger.getReceived(id.data);
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
            header.push(
              `personal data: destroy by ${received.destroyBy ?? '(no deadline)'}; ${received.state}`,
            );
          if (received.destroyedAt)
            steps.push({
              at: received.destroyedAt,
              what: `personal data destroyed (${received.destroyReason ?? '?'})`,
            });
        }
        const review = await new RedisReviews(redis, prefix).get(id.data);
        if (review) {
          steps.push({ at: review.receivedAt, what: `held for review by ${review.authority}` });
          if (review.decidedAt)
            steps.push({ at: review.decidedAt, what: `review decided: ${review.decision ?? '?'}` });
        }
        steps.push(...auditSteps(auditFileOf(config), id.data));
        const known = header.length > 0 || steps.length > 0;
        steps.sort((a, b) => a.at.localeCompare(b.at));
        if (opts.json === true) {
          process.stdout.write(`${JSON.stringify({ messageId: id.data, known, facts: header, steps })}\n`);
        } else if (!known) {
          process.stdout.write(
            `${id.data}: this gateway knows nothing of it (or its records have expired)\n`,
          );
        } else {
          process.stdout.write(`message ${id.data}\n${header.map((h) => `  ${h}\n`).join('')}`);
          for (const s of steps) process.stdout.write(`  ${s.at}  ${s.what}\n`);
        }
        process.exitCode = known ? EXIT_OK : EXIT_REFUSED;
      } catch (err) {
        process.exitCode = reportError(err);
      } finally {
        redis?.disconnect();
      }
    });
}
