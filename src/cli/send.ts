/**
 * `accord send --config FILE --file MSG.json`: submit to the outbox as the sending authority's case
 * system would, and say what the gateway decided (submit.ts).
 */
import { readFileSync } from 'node:fs';
import { AccordError } from '../errors.js';
import type { Command } from 'commander';
import type { SubmissionInput } from '../client/index.js';
import { loadConfig } from '../config.js';
import { parseJson, validate } from '../domain/parse.js';
import { Submission } from '../domain/submission.js';
import { reportError } from './exit.js';
import { submitAndReport, withSubmitOptions, type SubmitFlags } from './submit.js';

export function registerSend(program: Command): void {
  withSubmitOptions(
    program
      .command('send')
      .description(
        'submit to the gateway outbox and print its answer (accepted, duplicate, or rejected: exit 1)',
      )
      .requiredOption('--config <file>', 'the gateway config (JSON)')
      .requiredOption('--file <msg>', 'the submission (JSON)'),
  ).action(async (opts: { config: string; file: string } & SubmitFlags) => {
    try {
      const config = loadConfig(opts.config);
      let bytes: Buffer;
      try {
        bytes = readFileSync(opts.file);
      } catch (err) {
        const why = (err as NodeJS.ErrnoException).code ?? 'unreadable';
        throw new AccordError('input.invalid', `--file: cannot read ${opts.file} (${why})`, { path: 'file' });
      }
      const raw = parseJson(bytes, config.messages.maxSubmissionBytes);
      // Checked here too, so an operator sees the code and path at once.
      validate(Submission, raw, 'submission');
      process.exitCode = await submitAndReport(config, raw as SubmissionInput, opts);
    } catch (err) {
      process.exitCode = reportError(err);
    }
  });
}
