/**
 * `accord trace MESSAGE_ID`: one message's timeline for the administrator on call (admin/message-trace.ts
 * assembles it from what the gateway keeps). Exit 1 when the gateway knows nothing of the id.
 */
import type { Command } from 'commander';
import type { Redis } from 'ioredis';
import { connectForCommand } from '../store/redis-connect.js';
import { z } from 'zod';
import { traceMessage } from '../admin/message-trace.js';
import { loadConfig } from '../config.js';
import { AccordError } from '../errors.js';
import { EXIT_OK, EXIT_REFUSED, reportError } from './exit.js';

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
        redis = await connectForCommand(config.redis);
        const trace = await traceMessage(redis, config, id.data);
        if (opts.json === true) {
          process.stdout.write(`${JSON.stringify(trace)}\n`);
        } else if (!trace.known) {
          process.stdout.write(
            `${id.data}: this gateway knows nothing of it (or its records have expired)\n`,
          );
        } else {
          process.stdout.write(`message ${id.data}\n${trace.facts.map((h) => `  ${h}\n`).join('')}`);
          for (const s of trace.steps) process.stdout.write(`  ${s.at}  ${s.what}\n`);
        }
        process.exitCode = trace.known ? EXIT_OK : EXIT_REFUSED;
      } catch (err) {
        process.exitCode = reportError(err);
      } finally {
        redis?.disconnect();
      }
    });
}
