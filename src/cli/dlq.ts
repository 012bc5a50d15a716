/**
 * `accord dlq list | show | replay | drop`: the dead-letter queue, for the administrator on call; the
 * work is src/dlq/dead-letters.ts, which the admin API shares. A letter is named by the reference
 * `list` prints (or a unique prefix of 8+ characters of it, or its messageId).
 *
 * - `list` filters by code (or family), origin, time and state (open, or resolved by a late receipt);
 *   `--json` prints the same as one JSON object.
 * - `replay` sends a letter back where it came from, where that makes sense (docs/operator.md): an
 *   ingress letter's sealed message through this gateway's ingress again; a sent message that got no
 *   receipt to the peer again, through the outbox. Anything else is refused with the reason (exit 1).
 * - `drop` removes a letter for good; the reason is required.
 * Both are recorded in the gateway's audit log (handed over through Redis) before the letter goes.
 */
import type { Command } from 'commander';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { handOff, operatorName } from '../audit/handoff.js';
import { loadConfig, names, type Config } from '../config.js';
import { DeadLetters, type LetterFilter, type LetterView } from '../dlq/dead-letters.js';
import { AccordError } from '../errors.js';
import { createLogger } from '../log.js';
import { connectForCommand } from '../store/redis-connect.js';
import { brokerUser, connectBroker } from '../transport/connect.js';
import { brokerForGateway, SECRETS_HELP } from './broker-login.js';
import { EXIT_OK, reportError } from './exit.js';

const out = (line: string): void => void process.stdout.write(`${line}\n`);

/** Run `action` on the gateway's dead letters, with its Redis connection, and set the exit code. */
async function run(
  opts: { config: string; secrets?: string | undefined },
  action: (letters: DeadLetters, config: Config) => Promise<void>,
): Promise<void> {
  let redis: Redis | undefined;
  try {
    const config = loadConfig(opts.config);
    const n = names(config.namespace);
    const broker = brokerForGateway(config, opts.secrets);
    redis = await connectForCommand(config.redis);
    const r = redis;
    const letters = new DeadLetters({
      names: n,
      connect: () => connectBroker(broker, { name: 'accord-dlq' }),
      brokerUser: brokerUser(broker),
      redis: r,
      // Art. 10(6): the gateway is the audit log's one writer; the command hands its record over.
      record: (input) =>
        handOff(r, n.redisPrefix, input).catch((err: unknown) => {
          throw new AccordError(
            'infra.unavailable',
            'the audit record could not be handed to the gateway (Redis)',
            {
              cause: err,
            },
          );
        }),
      actor: (action) => `accord dlq ${action} (${operatorName()})`,
    });
    await action(letters, config);
    process.exitCode = EXIT_OK;
  } catch (err) {
    process.exitCode = reportError(err);
  } finally {
    redis?.disconnect();
  }
}

/** One line of `list`. */
function line(v: LetterView): string {
  if (!v.valid) return `${v.ref}  (a message that is not an Accord dead letter, ${v.bytes} B)`;
  const replay = 'to' in v.replay ? `replayable (${v.replay.to})` : 'not replayable';
  const state = v.state === 'resolved' ? `resolved ${v.resolvedAt}` : 'open';
  return (
    `${v.ref}  ${v.at}  ${(v.origin ?? '').padEnd(7)}  ${(v.code ?? '').padEnd(32)}  ` +
    `${v.messageId ?? '-'}  ${v.inputBytes} B  ${state}  ${replay}`
  );
}

const Time = z.iso.datetime({ offset: true }).or(z.iso.date());

/** The filter from `list`'s options (checked; a bad value is exit 1 with its option named). */
function filterOf(o: ListOptions): LetterFilter {
  const time = (value: string | undefined, option: string) => {
    if (value === undefined) return undefined;
    if (!Time.safeParse(value).success) {
      throw new AccordError('schema.invalid', `--${option} takes an ISO date or date-time`, { path: option });
    }
    return new Date(value);
  };
  if (o.origin !== undefined && o.origin !== 'outbox' && o.origin !== 'ingress') {
    throw new AccordError('schema.invalid', '--origin takes outbox or ingress', { path: 'origin' });
  }
  if (o.open === true && o.resolved === true) {
    throw new AccordError('schema.invalid', 'give --open or --resolved, not both', { path: 'open' });
  }
  return {
    code: o.code,
    origin: o.origin,
    since: time(o.since, 'since'),
    until: time(o.until, 'until'),
    state: o.open === true ? 'open' : o.resolved === true ? 'resolved' : undefined,
  };
}

interface ListOptions {
  config: string;
  secrets?: string;
  code?: string;
  origin?: string;
  since?: string;
  until?: string;
  open?: boolean;
  resolved?: boolean;
  json?: boolean;
}

export function registerDlq(program: Command): void {
  const dlq = program.command('dlq').description('the dead-letter queue: list, show, replay, drop');
  const REF = 'the letter’s reference as list shows it (or 8+ characters of it, or its messageId)';
  dlq
    .command('list')
    .description('one line per letter: reference, when, origin, code, message id, size, state, replay')
    .requiredOption('--config <file>', 'the gateway config')
    .option('--secrets <file>', SECRETS_HELP)
    .option('--code <code>', 'only this code, or a family (crypto. or crypto.*)')
    .option('--origin <origin>', 'only letters from the outbox or the ingress')
    .option('--since <time>', 'only letters made at or after this ISO date or date-time')
    .option('--until <time>', 'only letters made at or before this ISO date or date-time')
    .option('--open', 'only open letters')
    .option('--resolved', 'only letters resolved by a late receipt')
    .option('--json', 'print { letters, total, open, truncated } as one JSON object')
    .action((opts: ListOptions) =>
      run(opts, async (letters, config) => {
        const filter = filterOf(opts);
        const listed = await letters.list(filter);
        if (opts.json === true) {
          out(JSON.stringify(listed));
          return;
        }
        for (const v of listed.letters) out(line(v));
        const queue = names(config.namespace).dlq;
        out(
          listed.total === 0
            ? `${queue} is empty`
            : `${listed.letters.length} of ${listed.total} letter(s) shown; ${listed.open} open` +
                (listed.truncated ? ' (only the first ones were read)' : ''),
        );
      }),
    );
  dlq
    .command('show')
    .description('one letter in full, as JSON (its sealed message as size only)')
    .argument('<ref>', REF)
    .requiredOption('--config <file>', 'the gateway config')
    .option('--secrets <file>', SECRETS_HELP)
    .action((ref: string, opts: { config: string; secrets?: string }) =>
      run(opts, async (letters) => {
        out(JSON.stringify(await letters.show(ref), null, 2));
      }),
    );
  dlq
    .command('replay')
    .description(
      'send a letter back where it came from: an ingress letter through the ingress, a sent message that got no receipt to the peer again (through the outbox); refused, with the reason, where that makes no sense',
    )
    .argument('<ref>', REF)
    .requiredOption('--config <file>', 'the gateway config')
    .option('--secrets <file>', SECRETS_HELP)
    .action((ref: string, opts: { config: string; secrets?: string }) =>
      run(opts, async (letters) => {
        const r = await letters.replay(ref);
        createLogger({ level: 'info' }, process.stderr).info(
          {
            code: 'dlq.replayed',
            ref: r.ref,
            messageId: r.messageId,
            was: r.code,
            origin: r.origin,
            to: r.queue,
          },
          'dead letter replayed',
        );
        out(
          r.to === 'ingress'
            ? `replayed ${r.ref} to ${r.queue}; the gateway opens and verifies it again`
            : `replayed ${r.ref} to ${r.queue}; the gateway sends message ${r.messageId} to the peer again`,
        );
      }),
    );
  dlq
    .command('drop')
    .description('remove a letter for good; the reason is recorded in the audit log')
    .argument('<ref>', REF)
    .requiredOption('--config <file>', 'the gateway config')
    .option('--secrets <file>', SECRETS_HELP)
    .requiredOption('--reason <text>', 'why it is dropped, for the record')
    .action((ref: string, opts: { config: string; reason: string; secrets?: string }) =>
      run(opts, async (letters) => {
        const r = await letters.drop(ref, opts.reason);
        createLogger({ level: 'info' }, process.stderr).warn(
          {
            code: 'dlq.dropped',
            ref: r.ref,
            was: r.code,
            origin: r.origin,
            reason: opts.reason.slice(0, 400),
          },
          'dead letter dropped',
        );
        out(`dropped ${r.ref} (${r.code}): ${opts.reason.trim()}`);
      }),
    );
}
