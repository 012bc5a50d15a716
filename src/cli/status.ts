/**
 * `accord status --config FILE`: the facts an administrator on call needs first, in the terminal —
 * whether the gateway consumes, what waits in each queue, dead letters, requests held for review,
 * directory updates waiting for approval, Art. 17 and 18 notices, personal data past their destruction
 * deadline, consents pending, and (when the admin server is configured) its readiness checks and the
 * dashboard's facts: in flight, recent refusals and alerts, key states. Exit 0 when the gateway consumes
 * and nothing is dead-lettered, overdue or failing, 1 otherwise: usable from a monitoring script.
 */
import type { Command } from 'commander';
import type { Redis } from 'ioredis';
import { IGNORE_REDIS_ERRORS, redisConnection } from '../store/redis-connect.js';
import { loadConfig, names, type Config } from '../config.js';
import { AccordError } from '../errors.js';
import { readAdminToken } from '../admin/token.js';
import { RedisDirectory } from '../store/redis-directory.js';
import { RedisReviews } from '../store/redis-review.js';
import { RedisSuspensions } from '../store/redis-state.js';
import { RedisLedger } from '../store/redis-ledger.js';
import { Summary } from '../admin/dashboard.js';
import { connectBroker } from '../transport/connect.js';
import { brokerForGateway, SECRETS_HELP } from './broker-login.js';
import { EXIT_OK, EXIT_REFUSED, reportError } from './exit.js';

interface QueueFact {
  queue: string;
  messages: number | undefined;
  consumers: number | undefined;
}

async function queueFacts(config: Config, secrets: string | undefined): Promise<QueueFact[]> {
  const n = names(config.namespace);
  const queues = [
    n.outbox,
    n.ingress,
    n.dlq,
    ...config.authorities.flatMap((a) => [n.inbox(a.id), n.events(a.id), n.review(a.id)]),
    n.deliveredLog,
    // Shown only while it exists (see below).
    n.legacyDeliveredLog,
  ];
  const conn = await connectBroker(brokerForGateway(config, secrets), { name: 'accord-status' });
  try {
    const facts: QueueFact[] = [];
    for (const queue of queues) {
      const ch = await conn.createChannel();
      ch.on('error', () => undefined);
      const q = await ch.checkQueue(queue).catch(() => undefined);
      facts.push({ queue, messages: q?.messageCount, consumers: q?.consumerCount });
      await ch.close().catch(() => undefined);
    }
    return facts;
  } finally {
    await conn.close();
  }
}

/** GET a path of the running gateway's admin server, with its token. */
async function admin(config: Config, path: string): Promise<unknown> {
  if (!config.admin) throw new Error('admin server not configured');
  const res = await fetch(`http://${config.admin.host}:${config.admin.port}${path}`, {
    headers: { authorization: `Bearer ${readAdminToken(config.admin)}` },
    signal: AbortSignal.timeout(3000),
  });
  return res.json();
}

async function readiness(config: Config): Promise<string> {
  if (!config.admin) return 'admin server not configured';
  try {
    const body = (await admin(config, '/readyz')) as { ready: boolean; failing: string[] };
    return body.ready ? 'ready' : `NOT READY: ${body.failing.join(', ')}`;
  } catch (err) {
    return `admin server unreachable (${(err as Error).message})`;
  }
}

/** The dashboard's in-memory facts (in flight, refusals, alerts, keys), when the admin server answers. */
async function summary(config: Config): Promise<Summary | undefined> {
  if (!config.admin) return undefined;
  try {
    const parsed = Summary.safeParse(await admin(config, '/api/summary'));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('the gateway at a glance: consumers, queues, dead letters, reviews, directory, treaty state')
    .requiredOption('--config <file>', 'the gateway config')
    .option('--secrets <file>', SECRETS_HELP)
    .action(async (opts: { config: string; secrets?: string }) => {
      let redis: Redis | undefined;
      try {
        const config = loadConfig(opts.config);
        const n = names(config.namespace);
        const out = (line: string) => process.stdout.write(`${line}\n`);
        const facts = await queueFacts(config, opts.secrets);
        redis = redisConnection(
          config.redis,
          { lazyConnect: true, maxRetriesPerRequest: 1 },
          IGNORE_REDIS_ERRORS,
        );
        await redis.connect().catch((err: unknown) => {
          throw new AccordError('infra.unavailable', `cannot connect to Redis: ${(err as Error).message}`);
        });
        const reviews = await new RedisReviews(redis, n.redisPrefix).pending();
        const updates = await new RedisDirectory(redis, n.redisPrefix).pending();
        const now = Date.now();
        const notices = (await new RedisSuspensions(redis, n.redisPrefix).list()).filter(
          (e) => e.effectiveAt !== undefined && Date.parse(e.effectiveAt) <= now,
        );
        const consuming = (facts.find((f) => f.queue === n.outbox)?.consumers ?? 0) > 0;
        const dead = facts.find((f) => f.queue === n.dlq)?.messages ?? 0;
        const ready = await readiness(config);
        const ledger = new RedisLedger(redis, n.redisPrefix, 1);
        const graceMs = config.dataProtection.destruction.confirmGraceHours * 3_600_000;
        const due = await ledger.heldDueBefore(now);
        const overdue = await ledger.heldDueBefore(now - graceMs);
        const consents = await ledger.consentsPending();
        const termination = await ledger.termination();
        const dash = await summary(config);
        out(`Accord gateway ${config.party}${config.namespace ? ` (namespace ${config.namespace})` : ''}`);
        out(`  gateway consuming:   ${consuming ? 'yes' : 'NO (is it running?)'}`);
        out(`  readiness:           ${ready}`);
        out(`  dead letters:        ${dead}${dead > 0 ? '  (accord dlq list)' : ''}`);
        out(`  held for review:     ${reviews.length}`);
        out(
          `  directory updates:   ${updates.length} waiting for approval${updates.length > 0 ? ' (accord directory pending)' : ''}`,
        );
        out(
          `  Art. 17 in force:    ${notices.length === 0 ? 'none' : notices.map((e) => `${e.party} ${e.action}`).join(', ')}`,
        );
        out(
          `  Art. 10(5) destroy:   ${due} past their deadline, ${overdue} of them past the confirmation grace`,
        );
        out(`  consents pending:    ${consents}`);
        if (termination) {
          out(`  Art. 18 termination: by ${termination.party}, effective ${termination.effectiveAt}`);
        }
        if (dash) {
          out(`  in flight:           ${dash.inFlight} awaiting a receipt; ${dash.failed.noReceipt} failed`);
          for (const r of dash.refusals.slice(0, 5)) {
            out(`  refused:             ${r.at} ${r.messageId} (${r.grounds.join(', ')}; ${r.decidedBy})`);
          }
          for (const a of dash.alerts.slice(0, 5)) {
            out(`  alert:               ${a.at} ${a.code} ${a.messageId ?? a.kid ?? ''}`.trimEnd());
          }
          for (const k of dash.keys) {
            const left = k.daysLeft === undefined ? '' : `, ${k.daysLeft} days left`;
            out(`  key:                 ${k.owner} ${k.use} ${k.kid} ${k.state}${left}`);
          }
        }
        out('  queues (messages / consumers):');
        for (const f of facts) {
          const retired = f.queue === n.legacyDeliveredLog;
          if (retired && f.messages === undefined) continue;
          out(
            `    ${f.queue.padEnd(48)} ${f.messages === undefined ? 'missing' : `${f.messages} / ${f.consumers}`}` +
              (retired ? '  (retired: delete once no older gateway runs; docs/operator.md)' : ''),
          );
        }
        const healthy = consuming && dead === 0 && overdue === 0 && (ready === 'ready' || !config.admin);
        process.exitCode = healthy ? EXIT_OK : EXIT_REFUSED;
      } catch (err) {
        process.exitCode = reportError(err);
      } finally {
        redis?.disconnect();
      }
    });
}
