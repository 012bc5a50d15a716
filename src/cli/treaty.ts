/**
 * `accord treaty suspend | resume | terminate | status`: Art. 17 and 18. Suspend or resume the agreement in full or for
 * some crime categories; the notice goes to the peer like any message and takes effect fifteen days
 * after the peer received it. `status` shows every notice and whether it is in force.
 */
import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import type { Redis } from 'ioredis';
import { IGNORE_REDIS_ERRORS, connectForCommand, redisConnection } from '../store/redis-connect.js';
import { loadConfig, names } from '../config.js';
import { RedisLedger } from '../store/redis-ledger.js';
import { AccordError } from '../errors.js';
import { operatorName, recordForGateway } from '../audit/handoff.js';
import { terminationEffective } from '../policy/termination.js';
import { rescheduleDeadline } from '../schedule/deadlines.js';
import { CrimeCategory } from '../domain/categories.js';
import { validate } from '../domain/parse.js';
import { Submission } from '../domain/submission.js';
import type { SubmissionInput } from '../client/index.js';
import { RedisSuspensions } from '../store/redis-state.js';
import { EXIT_OK, reportError } from './exit.js';
import { submitAndReport, withSubmitOptions, type SubmitFlags } from './submit.js';

interface NoticeOpts extends SubmitFlags {
  config: string;
  from: string;
  scope: string;
  grounds: string;
  reason: string;
}

/** Art. 18(2): notify the termination; the agreement ends six months after the peer received it. */
async function terminate(
  opts: { config: string; from: string; note: string; reason?: string } & SubmitFlags,
): Promise<void> {
  try {
    const config = loadConfig(opts.config);
    const sub = {
      idempotencyKey: `treaty/terminate/${randomUUID()}`,
      kind: 'termination-notice',
      from: opts.from,
      to: { party: config.peer.party, authority: config.peer.authorities[0]!.id },
      priority: 'urgent',
      body: { diplomaticNote: opts.note, ...(opts.reason === undefined ? {} : { reason: opts.reason }) },
    } as const;
    validate(Submission, sub, 'termination notice');
    process.exitCode = await submitAndReport(
      config,
      sub,
      opts,
      `Art. 18: the agreement ends six months after ${config.peer.party}'s receipt; then destroy orders go out ` +
        `for all personal data received (see: accord treaty status).`,
    );
  } catch (err) {
    process.exitCode = reportError(err);
  }
}

/**
 * Art. 18(2): the text counts from the receipt of the diplomatic note. When that day is not the day the
 * peer's gateway took in the signed notice, the operators of both parties set it here; the end of the
 * agreement (and the destroy orders that come with it) move accordingly, and the change is recorded.
 */
async function terminationReceived(opts: { config: string; at: string }): Promise<void> {
  let redis: Redis | undefined;
  try {
    const config = loadConfig(opts.config);
    const at = new Date(opts.at);
    if (Number.isNaN(at.getTime())) {
      throw new AccordError('schema.invalid', '--at is not a date or time (ISO 8601)', { path: 'at' });
    }
    const n = names(config.namespace);
    redis = await connectForCommand(config.redis);
    const ledger = new RedisLedger(redis, n.redisPrefix, 1);
    const t = await ledger.termination();
    if (!t)
      throw new AccordError('schema.invalid', 'no termination has been notified (accord treaty status)');
    const receivedAt = at.toISOString();
    const effectiveAt = terminationEffective(receivedAt);
    await ledger.putTermination({ ...t, receivedAt, effectiveAt });
    const bull = redisConnection(config.redis, { maxRetriesPerRequest: null }, IGNORE_REDIS_ERRORS);
    try {
      await rescheduleDeadline(
        bull,
        n,
        {
          kind: 'termination-effective',
          id: t.noticeId,
          authority: config.authorities[0]!.id,
          dueAt: effectiveAt,
        },
        new Date(),
      );
    } finally {
      bull.disconnect();
    }
    await recordForGateway(config, n.redisPrefix, {
      type: 'termination',
      messageId: t.noticeId,
      reason: `Art. 18(2): note received via diplomatic channels ${receivedAt}; ends ${effectiveAt} (was ${t.effectiveAt})`,
      decidedBy: `accord treaty termination-received (${operatorName()})`,
    });
    process.stdout.write(
      `Art. 18: the agreement ends ${effectiveAt}, six months after the note was received on ${receivedAt} (was ${t.effectiveAt})\n`,
    );
    process.exitCode = EXIT_OK;
  } catch (err) {
    process.exitCode = reportError(err);
  } finally {
    redis?.disconnect();
  }
}

async function notify(action: 'suspend' | 'resume', opts: NoticeOpts): Promise<void> {
  try {
    const config = loadConfig(opts.config);
    const scope =
      opts.scope === 'all'
        ? ('all' as const)
        : { crimeCategories: opts.scope.split(',').map((c) => validate(CrimeCategory, c.trim(), '--scope')) };
    const peerAuthority = config.peer.authorities[0]!.id;
    const sub = {
      idempotencyKey: `treaty/${action}/${randomUUID()}`,
      kind: 'suspension-notice',
      from: opts.from,
      to: { party: config.peer.party, authority: peerAuthority },
      body: { action, scope, grounds: opts.grounds.split(',').map((g) => g.trim()), reason: opts.reason },
    };
    validate(Submission, sub, 'suspension notice');
    process.exitCode = await submitAndReport(
      config,
      sub as SubmissionInput,
      opts,
      `Art. 17: the ${action === 'suspend' ? 'suspension' : 'resumption'} takes effect 15 days after ` +
        `${config.peer.party}'s receipt (see: accord treaty status).`,
    );
  } catch (err) {
    process.exitCode = reportError(err);
  }
}

export function registerTreaty(program: Command): void {
  const treaty = program
    .command('treaty')
    .description('Art. 17 suspension and its revocation; Art. 18 termination');
  for (const action of ['suspend', 'resume'] as const) {
    withSubmitOptions(treaty.command(action))
      .description(
        `${action === 'suspend' ? 'suspend' : 'revoke the suspension of'} the agreement, in full or in part`,
      )
      .requiredOption('--config <file>', 'the gateway config')
      .requiredOption('--from <authority>', 'the notifying authority (treaty.notifyingAuthorities)')
      .option('--scope <scope>', '"all" or comma-separated Art. 2 crime categories', 'all')
      .option('--grounds <grounds>', 'security, public-order, public-health (comma-separated)', 'security')
      .requiredOption('--reason <text>', 'the reason, as notified')
      .action((opts: NoticeOpts) => notify(action, opts));
  }
  withSubmitOptions(treaty.command('terminate'))
    .description(
      'Art. 18(2): notify the termination of the agreement (it ends six months after the peer received it)',
    )
    .requiredOption('--config <file>', 'the gateway config')
    .requiredOption('--from <authority>', 'the notifying authority (treaty.notifyingAuthorities)')
    .requiredOption('--note <reference>', 'the diplomatic note that carries the termination')
    .option('--reason <text>', 'the reason, as notified')
    .action((opts: { config: string; from: string; note: string; reason?: string } & SubmitFlags) =>
      terminate(opts),
    );
  treaty
    .command('termination-received')
    .description(
      'Art. 18(2): the day the other party received the diplomatic note of termination, where it differs from the gateway’s receipt; the end moves to six months after it',
    )
    .requiredOption('--config <file>', 'the gateway config')
    .requiredOption('--at <date>', 'when the note was received via diplomatic channels (ISO 8601)')
    .action((opts: { config: string; at: string }) => terminationReceived(opts));
  treaty
    .command('status')
    .description('every Art. 17 notice, and whether it is in force')
    .requiredOption('--config <file>', 'the gateway config')
    .option('--json', 'print {termination, notices} as one JSON object')
    .action(async (opts: { config: string; json?: boolean }) => {
      let redis: Redis | undefined;
      try {
        const config = loadConfig(opts.config);
        redis = await connectForCommand(config.redis);
        const prefix = names(config.namespace).redisPrefix;
        const t = await new RedisLedger(redis, prefix, 1).termination();
        if (opts.json === true) {
          const now = Date.now();
          const notices = (await new RedisSuspensions(redis, prefix).list()).map((e) => ({
            id: e.id,
            party: e.party,
            action: e.action,
            scope: e.scope === 'all' ? 'all' : [...e.scope.crimeCategories],
            effectiveAt: e.effectiveAt ?? null,
            effective: e.effectiveAt !== undefined && Date.parse(e.effectiveAt) <= now,
          }));
          const termination = t
            ? {
                party: t.party,
                noticeId: t.noticeId,
                effectiveAt: t.effectiveAt,
                ended: Date.parse(t.effectiveAt) <= now,
              }
            : null;
          process.stdout.write(`${JSON.stringify({ termination, notices })}\n`);
          process.exitCode = EXIT_OK;
          return;
        }
        if (t) {
          const ended = Date.parse(t.effectiveAt) <= Date.now();
          process.stdout.write(
            `Art. 18: terminated by ${t.party} (notice ${t.noticeId}, ${t.diplomaticNote}); ` +
              `${ended ? 'ended' : 'ends'} ${t.effectiveAt}\n`,
          );
        }
        const entries = await new RedisSuspensions(redis, prefix).list();
        if (entries.length === 0)
          process.stdout.write('no Art. 17 notices: the agreement is applied in full\n');
        const now = Date.now();
        for (const e of entries.sort((a, b) => (a.effectiveAt ?? '~').localeCompare(b.effectiveAt ?? '~'))) {
          const scope = e.scope === 'all' ? 'all' : e.scope.crimeCategories.join(',');
          const when =
            e.effectiveAt === undefined
              ? 'awaiting the peer’s receipt'
              : `${Date.parse(e.effectiveAt) <= now ? 'in force since' : 'takes effect'} ${e.effectiveAt}`;
          process.stdout.write(`${e.id}  ${e.party} ${e.action.padEnd(7)} scope ${scope}  ${when}\n`);
        }
        process.exitCode = EXIT_OK;
      } catch (err) {
        process.exitCode = reportError(err);
      } finally {
        redis?.disconnect();
      }
    });
}
