/**
 * `accord status --config FILE`: the facts an administrator on call needs first, in the terminal —
 * whether the gateway consumes, what waits in each queue, dead letters, requests held for review,
 * directory updates waiting for approval, Art. 17 and 18 notices, personal data past their destruction
 * deadline, consents pending, and (when the admin server is configured) its readiness checks and the
 * dashboard's facts: in flight, recent refusals and alerts, key states. Exit 0 when the gateway consumes
 * and no dead letter is open (resolved ones, whose message a late receipt delivered, do not count),
 * nothing is overdue or failing, 1 otherwise: usable from a monitoring script.
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
import { RedisDeadLetterMarks } from '../store/redis-dead-letters.js';
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

/** What `accord status` reports, as `--json` prints it (the text form says the same). */
export interface StatusReport {
  party: string;
  namespace: string | undefined;
  consuming: boolean;
  readiness: string;
  /** Letters in accord.dlq, resolved ones included. */
  deadLetters: number;
  /** Letters not resolved by a late receipt: these make the gateway unhealthy. */
  deadLettersOpen: number;
  heldForReview: number;
  directoryUpdatesPending: number;
  suspensionsInForce: { party: string; action: string }[];
  destructions: { pastDeadline: number; pastGrace: number };
  consentsPending: number;
  termination: { party: string; effectiveAt: string } | null;
  dashboard: Summary | undefined;
  queues: (QueueFact & { retired: boolean })[];
  healthy: boolean;
}

/** Read every fact `accord status` reports. */
async function gather(config: Config, secrets: string | undefined, redis: Redis): Promise<StatusReport> {
  const n = names(config.namespace);
  const facts = await queueFacts(config, secrets);
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
  // A resolved letter (its message delivered by a late receipt) stays as evidence but counts no more.
  const resolved = await new RedisDeadLetterMarks(redis, n.redisPrefix).resolvedCount();
  const open = Math.max(0, dead - resolved);
  const ready = await readiness(config);
  const ledger = new RedisLedger(redis, n.redisPrefix, 1);
  const graceMs = config.dataProtection.destruction.confirmGraceHours * 3_600_000;
  const due = await ledger.heldDueBefore(now);
  const overdue = await ledger.heldDueBefore(now - graceMs);
  const termination = await ledger.termination();
  return {
    party: config.party,
    namespace: config.namespace,
    consuming,
    readiness: ready,
    deadLetters: dead,
    deadLettersOpen: open,
    heldForReview: reviews.length,
    directoryUpdatesPending: updates.length,
    suspensionsInForce: notices.map((e) => ({ party: e.party, action: e.action })),
    destructions: { pastDeadline: due, pastGrace: overdue },
    consentsPending: await ledger.consentsPending(),
    termination: termination ? { party: termination.party, effectiveAt: termination.effectiveAt } : null,
    dashboard: await summary(config),
    // The retired delivered-log is shown only while it exists.
    queues: facts
      .map((f) => ({ ...f, retired: f.queue === n.legacyDeliveredLog }))
      .filter((f) => !(f.retired && f.messages === undefined)),
    healthy: consuming && open === 0 && overdue === 0 && (ready === 'ready' || !config.admin),
  };
}

/** What follows the number of dead letters: how many are open, and where to look. */
function deadLetterNote(r: StatusReport): string {
  if (r.deadLetters === 0) return '';
  const resolved = r.deadLetters - r.deadLettersOpen;
  return resolved === 0
    ? '  (accord dlq list)'
    : `  (${r.deadLettersOpen} open, ${resolved} resolved by a late receipt; accord dlq list)`;
}

/** The report as lines for a terminal. */
function render(r: StatusReport): string[] {
  const lines = [
    `Accord gateway ${r.party}${r.namespace ? ` (namespace ${r.namespace})` : ''}`,
    `  gateway consuming:   ${r.consuming ? 'yes' : 'NO (is it running?)'}`,
    `  readiness:           ${r.readiness}`,
    `  dead letters:        ${r.deadLetters}${deadLetterNote(r)}`,
    `  held for review:     ${r.heldForReview}`,
    `  directory updates:   ${r.directoryUpdatesPending} waiting for approval${r.directoryUpdatesPending > 0 ? ' (accord directory pending)' : ''}`,
    `  Art. 17 in force:    ${r.suspensionsInForce.length === 0 ? 'none' : r.suspensionsInForce.map((e) => `${e.party} ${e.action}`).join(', ')}`,
    `  Art. 10(5) destroy:   ${r.destructions.pastDeadline} past their deadline, ${r.destructions.pastGrace} of them past the confirmation grace`,
    `  consents pending:    ${r.consentsPending}`,
  ];
  if (r.termination) {
    lines.push(`  Art. 18 termination: by ${r.termination.party}, effective ${r.termination.effectiveAt}`);
  }
  const dash = r.dashboard;
  if (dash) {
    lines.push(`  in flight:           ${dash.inFlight} awaiting a receipt; ${dash.failed.noReceipt} failed`);
    for (const x of dash.refusals.slice(0, 5)) {
      lines.push(`  refused:             ${x.at} ${x.messageId} (${x.grounds.join(', ')}; ${x.decidedBy})`);
    }
    for (const a of dash.alerts.slice(0, 5)) {
      lines.push(`  alert:               ${a.at} ${a.code} ${a.messageId ?? a.kid ?? ''}`.trimEnd());
    }
    for (const k of dash.keys) {
      const left = k.daysLeft === undefined ? '' : `, ${k.daysLeft} days left`;
      lines.push(`  key:                 ${k.owner} ${k.use} ${k.kid} ${k.state}${left}`);
    }
  }
  lines.push('  queues (messages / consumers):');
  for (const f of r.queues) {
    lines.push(
      `    ${f.queue.padEnd(48)} ${f.messages === undefined ? 'missing' : `${f.messages} / ${f.consumers}`}` +
        (f.retired ? '  (retired: delete once no older gateway runs; docs/operator.md)' : ''),
    );
  }
  return lines;
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('the gateway at a glance: consumers, queues, dead letters, reviews, directory, treaty state')
    .requiredOption('--config <file>', 'the gateway config')
    .option('--secrets <file>', SECRETS_HELP)
    .option('--json', 'print the report as one JSON object (the same facts, for scripts)')
    .action(async (opts: { config: string; secrets?: string; json?: boolean }) => {
      let redis: Redis | undefined;
      try {
        const config = loadConfig(opts.config);
        redis = redisConnection(
          config.redis,
          { lazyConnect: true, maxRetriesPerRequest: 1 },
          IGNORE_REDIS_ERRORS, // a failure surfaces as the rejected command, once
        );
        const report = await gather(config, opts.secrets, redis);
        const text = opts.json === true ? [JSON.stringify(report)] : render(report);
        process.stdout.write(`${text.join('\n')}\n`);
        process.exitCode = report.healthy ? EXIT_OK : EXIT_REFUSED;
      } catch (err) {
        process.exitCode = reportError(err);
      } finally {
        redis?.disconnect();
      }
    });
}
