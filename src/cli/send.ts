/** `accord send --config FILE --file MSG.json`: publish a submission to the outbox, as a case system would. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { loadConfig, names } from '../config.js';
import { messageIdFor } from '../domain/ids.js';
import { parseJson, validate } from '../domain/parse.js';
import { Submission } from '../domain/submission.js';
import { AmqpConnection } from '../transport/amqp.js';
import { EXIT_OK, reportError } from './exit.js';

export function registerSend(program: Command): void {
  program
    .command('send')
    .description('publish a submission to the gateway outbox')
    .requiredOption('--config <file>', 'the gateway config (JSON)')
    .requiredOption('--file <msg>', 'the submission (JSON)')
    .action(async (opts: { config: string; file: string }) => {
      let conn: AmqpConnection | undefined;
      try {
        const config = loadConfig(opts.config);
        const bytes = readFileSync(opts.file);
        // Checked here too, so an operator sees the code and path at once.
        const sub = validate(Submission, parseJson(bytes, config.messages.maxSubmissionBytes), 'submission');
        conn = await AmqpConnection.open({
          url: config.amqp.url,
          name: 'accord-send',
          heartbeatS: config.amqp.heartbeatS,
          confirmTimeoutMs: config.amqp.confirmTimeoutMs,
        });
        await conn.publish(names(config.namespace).outbox, bytes, { contentType: 'application/json' });
        const id = messageIdFor(config.party, sub.from, sub.idempotencyKey);
        process.stdout.write(
          `published ${sub.kind} from ${sub.from} to ${sub.to.party}:${sub.to.authority}; message id ${id}\n`,
        );
        process.exitCode = EXIT_OK;
      } catch (err) {
        process.exitCode = reportError(err);
      } finally {
        await conn?.close();
      }
    });
}
