/**
 * `accord conformance --peer-url URL --config FILE`: the conformance kit (docs/protocol.md,
 * "Conformance kit"). It plays the party of FILE (its keys, directory, broker and namespace) against
 * the gateway of the other party whose broker is at URL, and prints one PASS, FAIL or SKIP line per
 * requirement with the evidence, then a JSON summary (`--json`: the whole report as JSON only).
 * Exit 0 when every requirement checked passed, 1 when one failed, 2 on a usage or config error.
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { loadConfig } from '../config.js';
import { VECTOR_CLASSES } from '../conformance/classes.js';
import { AccordError } from '../errors.js';
import { EXIT_OK, EXIT_REFUSED, reportError } from './exit.js';

/** The command's options as commander gives them (strings), checked before anything connects. */
const Options = z.strictObject({
  peerUrl: z.string().regex(/^amqps?:\/\/[^\s]+$/, 'an amqp:// or amqps:// URL'),
  config: z.string().min(1),
  json: z.boolean().optional(),
  receiptTimeoutMs: z.coerce.number().int().min(100).max(600_000).default(10_000),
  silenceMs: z.coerce.number().int().min(100).max(600_000).default(3000),
  maxMessageBytes: z.coerce
    .number()
    .int()
    .min(1024)
    .max(64 * 1024 * 1024)
    .optional(),
  withDisruptive: z.boolean().optional(),
  only: z
    .string()
    .transform((s) => s.split(',').map((c) => c.trim()))
    .refine(
      (list) => list.every((c) => VECTOR_CLASSES.some((v) => v.name === c)),
      'names a class that does not exist',
    )
    .optional(),
});

/** Register `accord conformance`. */
export function registerConformance(program: Command): void {
  program
    .command('conformance')
    .description(
      'play the peer gateway against a running gateway: send each vector class, check the receipts and silences the protocol makes observable',
    )
    .requiredOption(
      '--peer-url <url>',
      'the AMQP URL of the tested gateway’s broker (where the kit publishes)',
    )
    .requiredOption(
      '--config <file>',
      'the config of the party the kit plays: its keys, directory, namespace and broker (receipts come there)',
    )
    .option('--json', 'print the whole report as one JSON object, nothing else')
    .option('--receipt-timeout-ms <ms>', 'how long a receipt may take (default 10000)')
    .option('--silence-ms <ms>', 'how long to wait for a receipt that must not come (default 3000)')
    .option('--max-message-bytes <n>', 'the tested gateway’s crypto.maxMessageBytes (default: the config’s)')
    .option('--with-disruptive', 'also send the classes whose effect lasts (a termination notice)')
    .option(
      '--only <classes>',
      `comma-separated classes to send (of: ${VECTOR_CLASSES.map((c) => c.name).join(', ')})`,
    )
    .action(async (raw: Record<string, unknown>) => {
      try {
        const parsed = Options.safeParse(raw);
        if (!parsed.success) {
          const issue = parsed.error.issues[0]!;
          const option = `--${String(issue.path[0] ?? '').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
          throw new AccordError('input.invalid', `${option}: ${issue.message}`, { path: option });
        }
        const opts = parsed.data;
        const config = loadConfig(opts.config);
        const { runConformance } = await import('../conformance/kit.js');
        const { formatReport } = await import('../conformance/report.js');
        const report = await runConformance({
          config,
          peerUrl: opts.peerUrl,
          receiptTimeoutMs: opts.receiptTimeoutMs,
          silenceMs: opts.silenceMs,
          ...(opts.maxMessageBytes === undefined ? {} : { maxMessageBytes: opts.maxMessageBytes }),
          withDisruptive: opts.withDisruptive === true,
          ...(opts.only ? { classes: opts.only } : {}),
        });
        process.stdout.write(opts.json === true ? `${JSON.stringify(report)}\n` : formatReport(report));
        process.exitCode = report.ok ? EXIT_OK : EXIT_REFUSED;
      } catch (err) {
        process.exitCode = reportError(err);
      }
    });
}
