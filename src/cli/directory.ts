/**
 * `accord directory show | pending | approve | announce`: Art. 13. The peer's directory of competent
 * authorities comes from the config until the peer notifies a new one in a signed `directory-update`;
 * that update applies only once an operator approves it here. `announce` sends this party's directory
 * (from its config) to the peer.
 */
import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import type { Redis } from 'ioredis';
import { connectForCommand } from '../store/redis-connect.js';
import { loadConfig, names, type Config } from '../config.js';
import { validate } from '../domain/parse.js';
import { Submission } from '../domain/submission.js';
import { AccordError } from '../errors.js';
import { operatorName, recordForGateway } from '../audit/handoff.js';
import { RedisDirectory } from '../store/redis-directory.js';
import type { SubmissionInput } from '../client/index.js';
import { EXIT_OK, reportError } from './exit.js';
import { submitAndReport, withSubmitOptions, type SubmitFlags } from './submit.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function withDirectory(
  configFile: string,
  run: (dir: RedisDirectory, config: Config) => Promise<void>,
): Promise<void> {
  let redis: Redis | undefined;
  try {
    const config = loadConfig(configFile);
    redis = await connectForCommand(config.redis);
    await run(new RedisDirectory(redis, names(config.namespace).redisPrefix), config);
    process.exitCode = EXIT_OK;
  } catch (err) {
    process.exitCode = reportError(err);
  } finally {
    redis?.disconnect();
  }
}

const out = (line: string) => process.stdout.write(`${line}\n`);

export function registerDirectory(program: Command): void {
  const dir = program.command('directory').description('Art. 13: the directory of competent authorities');
  dir
    .command('show')
    .description('the peer directory in force, and where it comes from')
    .requiredOption('--config <file>', 'the gateway config')
    .option('--json', 'print {party, source, update, authorities} as one JSON object')
    .action((opts: { config: string; json?: boolean }) =>
      withDirectory(opts.config, async (d, config) => {
        const approved = await d.current();
        if (opts.json === true) {
          const authorities = (approved?.authorities ?? config.peer.authorities).map((a) => ({
            id: a.id,
            name: a.name,
          }));
          const update = approved
            ? { id: approved.updateId, approvedAt: approved.approvedAt, approvedBy: approved.approvedBy }
            : null;
          out(
            JSON.stringify({
              party: config.peer.party,
              source: approved ? 'update' : 'config',
              update,
              authorities,
            }),
          );
          return;
        }
        out(
          approved
            ? `peer directory of ${config.peer.party}: update ${approved.updateId}, approved ${approved.approvedAt} by ${approved.approvedBy}`
            : `peer directory of ${config.peer.party}: from the config (no approved update)`,
        );
        for (const a of approved?.authorities ?? config.peer.authorities) out(`  ${a.id}  ${a.name}`);
      }),
    );
  dir
    .command('pending')
    .description('directory updates received from the peer and not yet approved, with what they change')
    .requiredOption('--config <file>', 'the gateway config')
    .option('--json', 'print {pending: [{id, receivedAt, party, fromAuthority, adds, removes, reason}]}')
    .action((opts: { config: string; json?: boolean }) =>
      withDirectory(opts.config, async (d, config) => {
        const pending = await d.pending();
        const current = new Set(
          ((await d.current())?.authorities ?? config.peer.authorities).map((a) => a.id),
        );
        if (opts.json === true) {
          const updates = pending.map((u) => {
            const next = new Set(u.authorities.map((a) => a.id));
            return {
              id: u.id,
              receivedAt: u.receivedAt,
              party: u.party,
              fromAuthority: u.fromAuthority,
              authorities: [...next],
              adds: [...next].filter((id) => !current.has(id)),
              removes: [...current].filter((id) => !next.has(id)),
              reason: u.reason,
            };
          });
          out(JSON.stringify({ pending: updates }));
          return;
        }
        if (pending.length === 0) out('no pending directory updates');
        for (const u of pending) {
          const next = new Set(u.authorities.map((a) => a.id));
          const added = [...next].filter((id) => !current.has(id));
          const removed = [...current].filter((id) => !next.has(id));
          out(
            `${u.id}  received ${u.receivedAt} from ${u.party}/${u.fromAuthority}: ${u.authorities.length} authorities`,
          );
          out(`  adds: ${added.join(', ') || '-'}; removes: ${removed.join(', ') || '-'}`);
          out(`  reason: ${u.reason}`);
        }
      }),
    );
  dir
    .command('approve')
    .description('put a pending directory update in force (running gateways switch at once)')
    .argument('<id>', 'the update’s message id (accord directory pending)')
    .requiredOption('--config <file>', 'the gateway config')
    .requiredOption('--by <name>', 'who approves, for the record')
    .action((id: string, opts: { config: string; by: string }) =>
      withDirectory(opts.config, async (d) => {
        if (!UUID.test(id))
          throw new AccordError('schema.invalid', 'the update id is a UUID', { path: 'id' });
        const by = opts.by.slice(0, 200);
        const approved = await d.approve(id, by, new Date());
        if (!approved) {
          throw new AccordError('directory.unknown_update', `no pending directory update ${id}`, {
            path: 'id',
          });
        }
        const config = loadConfig(opts.config);
        await recordForGateway(config, names(config.namespace).redisPrefix, {
          type: 'directory',
          messageId: id,
          reason: `Art. 13 directory update approved: ${approved.authorities.length} authorities`,
          decidedBy: `${by} (${operatorName()})`.slice(0, 200),
        });
        out(
          `approved ${id}: the peer directory now lists ${approved.authorities.map((a) => a.id).join(', ')}`,
        );
      }),
    );
  withSubmitOptions(
    dir
      .command('announce')
      .description('send this party’s directory (from the config) to the peer, for its approval')
      .requiredOption('--config <file>', 'the gateway config')
      .requiredOption('--from <authority>', 'the notifying authority (treaty.notifyingAuthorities)')
      .requiredOption('--to <authority>', 'the peer authority addressed')
      .requiredOption('--reason <text>', 'what changed, for the approving operator'),
  ).action(async (opts: { config: string; from: string; to: string; reason: string } & SubmitFlags) => {
    try {
      const config = loadConfig(opts.config);
      const sub = {
        idempotencyKey: `directory/${randomUUID()}`,
        kind: 'directory-update',
        from: opts.from,
        to: { party: config.peer.party, authority: opts.to },
        body: { authorities: config.authorities, reason: opts.reason },
      };
      validate(Submission, sub, 'directory update');
      process.exitCode = await submitAndReport(
        config,
        sub as SubmissionInput,
        opts,
        `Art. 13: ${config.authorities.length} authorities announced to ${config.peer.party}; ` +
          `the update applies there once their operator approves it (accord directory approve).`,
      );
    } catch (err) {
      process.exitCode = reportError(err);
    }
  });
}
