/**
 * `accord dlq list | show | replay | drop`: the dead-letter queue, for the administrator on call.
 * Letters are read with basic.get and put back (nack, requeue) unless an operation takes one; a letter
 * is named by the first characters of its `inputSha256` (as `list` shows them) or by its `messageId`.
 *
 * - `replay` publishes a letter's sealed message (letters from `ingress` carry it) to this gateway's
 *   ingress again, where it is opened and verified from scratch like any arrival; a message delivered
 *   before is recognised and not delivered twice. Letters from the outbox carry no content (only its
 *   hash): the case system must submit again.
 * - `drop` removes a letter for good; the reason is required and logged with the letter's facts.
 */
import type { Command } from 'commander';
import { operatorName, recordForGateway } from '../audit/handoff.js';
import type { Channel, GetMessage, Options } from 'amqplib';
import { loadConfig, names, type Config } from '../config.js';
import { DeadLetterSchema } from '../domain/delivery.js';
import { AccordError } from '../errors.js';
import { createLogger } from '../log.js';
import { connectBroker } from '../transport/connect.js';
import { brokerForGateway, SECRETS_HELP } from './broker-login.js';
import { EXIT_OK, reportError } from './exit.js';

type Letter = ReturnType<typeof DeadLetterSchema.parse>;

/** Take every letter off the queue (unacked), run `work`, and put back what it did not settle. */
async function withLetters(
  config: Config,
  secrets: string | undefined,
  work: (
    letters: { msg: GetMessage; letter: Letter | undefined }[],
    ch: Channel,
    publish: (queue: string, content: Buffer, options: Options.Publish) => Promise<void>,
  ) => Promise<Set<GetMessage>>,
): Promise<void> {
  const conn = await connectBroker(brokerForGateway(config, secrets), { name: 'accord-dlq' });
  try {
    const ch = await conn.createChannel();
    const queue = names(config.namespace).dlq;
    const taken: { msg: GetMessage; letter: Letter | undefined }[] = [];
    for (let i = 0; i < 10_000; i++) {
      const msg = await ch.get(queue, { noAck: false });
      if (msg === false) break;
      let letter: Letter | undefined;
      try {
        letter = DeadLetterSchema.parse(JSON.parse(msg.content.toString('utf8')));
      } catch {
        letter = undefined;
      }
      taken.push({ msg, letter });
    }
    let settled = new Set<GetMessage>();
    try {
      const pub = await conn.createConfirmChannel();
      const publish = (q: string, content: Buffer, options: Options.Publish) =>
        new Promise<void>((resolve, reject) =>
          pub.sendToQueue(q, content, options, (err) => (err ? reject(err as Error) : resolve())),
        );
      settled = await work(taken, ch, publish);
    } finally {
      for (const { msg } of taken) if (!settled.has(msg)) ch.nack(msg, false, true);
      // A round trip on the same channel: the broker has applied the acks and nacks before it answers.
      await ch.checkQueue(queue);
    }
  } finally {
    await conn.close();
  }
}

const out = (line: string) => process.stdout.write(`${line}\n`);

function find(letters: { msg: GetMessage; letter: Letter | undefined }[], ref: string) {
  if (ref.length < 8)
    throw new AccordError('schema.invalid', 'name a letter by at least 8 characters', { path: 'ref' });
  const hits = letters.filter(
    ({ letter }) => letter && (letter.inputSha256.startsWith(ref) || letter.messageId === ref),
  );
  if (hits.length !== 1) {
    throw new AccordError(
      'schema.invalid',
      hits.length === 0
        ? `no dead letter matches ${ref}`
        : `${hits.length} dead letters match ${ref}; give more characters`,
      { path: 'ref' },
    );
  }
  return hits[0]!;
}

async function run(configFile: string, action: (config: Config) => Promise<void>): Promise<void> {
  try {
    await action(loadConfig(configFile));
    process.exitCode = EXIT_OK;
  } catch (err) {
    process.exitCode = reportError(err);
  }
}

export function registerDlq(program: Command): void {
  const dlq = program.command('dlq').description('the dead-letter queue: list, show, replay, drop');
  dlq
    .command('list')
    .description('one line per letter: when, where from, code, id, size')
    .requiredOption('--config <file>', 'the gateway config')
    .option('--secrets <file>', SECRETS_HELP)
    .action((opts: { config: string; secrets?: string }) =>
      run(opts.config, (config) =>
        withLetters(config, opts.secrets, (letters) => {
          if (letters.length === 0) out('accord.dlq is empty');
          for (const { letter } of letters) {
            if (!letter) {
              out('(a letter that is not an Accord dead letter)');
              continue;
            }
            out(
              `${letter.inputSha256.slice(0, 12)}  ${letter.at}  ${letter.source.padEnd(7)}  ${letter.code.padEnd(32)}  ` +
                `${letter.messageId ?? '-'}  ${letter.inputBytes} B${letter.jwe ? '  replayable' : ''}`,
            );
          }
          out(`${letters.length} letter(s)`);
          return Promise.resolve(new Set());
        }),
      ),
    );
  dlq
    .command('show')
    .description('one letter in full (its sealed message as size and hash only)')
    .argument('<ref>', 'inputSha256 prefix (8+ characters) or messageId')
    .requiredOption('--config <file>', 'the gateway config')
    .option('--secrets <file>', SECRETS_HELP)
    .action((ref: string, opts: { config: string; secrets?: string }) =>
      run(opts.config, (config) =>
        withLetters(config, opts.secrets, (letters) => {
          const { letter } = find(letters, ref);
          const { jwe, ...rest } = letter!;
          out(JSON.stringify({ ...rest, ...(jwe ? { jweBytes: jwe.length } : {}) }, null, 2));
          return Promise.resolve(new Set());
        }),
      ),
    );
  dlq
    .command('replay')
    .description(
      'send a letter’s sealed message through this gateway’s ingress again (opened and verified anew)',
    )
    .argument('<ref>', 'inputSha256 prefix (8+ characters) or messageId')
    .requiredOption('--config <file>', 'the gateway config')
    .option('--secrets <file>', SECRETS_HELP)
    .action((ref: string, opts: { config: string; secrets?: string }) =>
      run(opts.config, (config) =>
        withLetters(config, opts.secrets, async (letters, ch, publish) => {
          const hit = find(letters, ref);
          const letter = hit.letter!;
          if (!letter.jwe) {
            throw new AccordError(
              'schema.invalid',
              `letter ${letter.inputSha256.slice(0, 12)} (${letter.source}) carries no sealed message to replay; the case system must submit again`,
              { path: 'ref' },
            );
          }
          const n = names(config.namespace);
          await publish(n.ingress, Buffer.from(letter.jwe, 'latin1'), {
            persistent: true,
            contentType: 'application/jose',
            ...(letter.messageId ? { messageId: letter.messageId } : {}),
          });
          ch.ack(hit.msg);
          createLogger({ level: 'info' }, process.stderr).info(
            {
              code: 'dlq.replayed',
              inputSha256: letter.inputSha256,
              messageId: letter.messageId,
              was: letter.code,
            },
            'dead letter replayed through the ingress',
          );
          out(
            `replayed ${letter.inputSha256.slice(0, 12)} to ${n.ingress}; the gateway opens and verifies it again`,
          );
          return new Set([hit.msg]);
        }),
      ),
    );
  dlq
    .command('drop')
    .description('remove a letter for good; the reason is recorded in the log')
    .argument('<ref>', 'inputSha256 prefix (8+ characters) or messageId')
    .requiredOption('--config <file>', 'the gateway config')
    .option('--secrets <file>', SECRETS_HELP)
    .requiredOption('--reason <text>', 'why it is dropped, for the record')
    .action((ref: string, opts: { config: string; reason: string; secrets?: string }) =>
      run(opts.config, (config) =>
        withLetters(config, opts.secrets, async (letters, ch) => {
          const reason = opts.reason.trim().slice(0, 500);
          if (reason.length < 3) throw new AccordError('schema.invalid', 'give a reason', { path: 'reason' });
          const hit = find(letters, ref);
          const letter = hit.letter!;
          // Art. 10(6): recorded (by the gateway) before the letter is gone.
          await recordForGateway(config, names(config.namespace).redisPrefix, {
            type: 'dead-letter-drop',
            ...(letter.messageId === undefined ? {} : { messageId: letter.messageId }),
            reason: `${letter.code}: ${reason}`.slice(0, 500),
            decidedBy: `accord dlq drop (${operatorName()})`,
            refersTo: letter.inputSha256,
          });
          ch.ack(hit.msg);
          createLogger({ level: 'info' }, process.stderr).warn(
            {
              code: 'dlq.dropped',
              inputSha256: letter.inputSha256,
              messageId: letter.messageId,
              was: letter.code,
              reason,
            },
            'dead letter dropped',
          );
          out(`dropped ${letter.inputSha256.slice(0, 12)} (${letter.code}): ${reason}`);
          return new Set([hit.msg]);
        }),
      ),
    );
}
