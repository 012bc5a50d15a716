/**
 * `accord audit verify | export`: the Art. 10(6) records. `verify` walks the hash chain of the
 * gateway's audit log and checks every signed checkpoint with the gateway's own signing keys; it names
 * the first record that was modified, deleted, reordered or cut off (exit 1). With `--anchor`, it also
 * checks that the log still holds the checkpoint the peer keeps as its anchor (records removed from the
 * end show only against such an anchor). `export` writes the records of a period for a supervisor.
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { checkpointVerifier } from '../audit/checkpoint.js';
import { exportAudit, heldByLiveWriter, verifyAuditFile } from '../audit/log.js';
import { AccordError } from '../errors.js';
import { auditFileOf } from '../audit/log.js';
import { keyHistoryPath, readKeyHistory } from '../crypto/key-history.js';
import { readPublicJwks } from '../crypto/jwk.js';
import { loadKeyRing, statePathOf } from '../keys/watch.js';
import { EXIT_OK, EXIT_REFUSED, EXIT_USAGE, reportError } from './exit.js';

function date(value: string, option: string): Date {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) {
    throw new AccordError('config.invalid', `${option} is not a date or time (ISO 8601, e.g. 2026-11-01)`);
  }
  return d;
}

export function registerAudit(program: Command): void {
  const audit = program
    .command('audit')
    .description('the Art. 10(6) records: verify the chain, export a period');
  audit
    .command('verify')
    .description('check the hash chain and the signed checkpoints; exit 1 naming the first bad record')
    .requiredOption('--config <file>', 'the gateway config (its audit file and signing keys)')
    .option('--file <file>', 'another copy of the audit log to check (default: the config’s)')
    .option('--anchor <hash>', 'a checkpoint hash the peer holds (from its peer-anchor records)')
    .option(
      '--keys <file>',
      'public signing keys to check old checkpoints with, besides the key history (a JWK Set, e.g. from a backup)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .action(async (opts: { config: string; file?: string; anchor?: string; keys: string[] }) => {
      try {
        const config = loadConfig(opts.config);
        const keys = await loadKeyRing(config, () => new Date());
        const file = opts.file ?? auditFileOf(config);
        const live = heldByLiveWriter(file);
        // Each checkpoint is checked with the key that signed it: an own key, one from the key history
        // (every own signing key ever used), or one given with --keys.
        const earlier = [
          ...readKeyHistory(keyHistoryPath(statePathOf(config))).map((e) => e.key),
          ...opts.keys.flatMap((f) => readPublicJwks(f).keys),
        ];
        const verifier = await checkpointVerifier(keys, config.crypto, earlier);
        const result = await verifyAuditFile(file, verifier, { live });
        if (!result.ok && result.chainIntact === true) {
          process.stdout.write(
            `FAILED ${file}: ${result.problem}. The hash chain of all ${result.records} records is intact; ` +
              'give the public keys that signed them with --keys FILE (e.g. key-history.json from a backup of the key files)\n',
          );
          process.exitCode = EXIT_REFUSED;
          return;
        }
        if (!result.ok) {
          process.stdout.write(
            `FAILED ${file}: record ${result.badSeq}: ${result.problem} (${result.records} records before it are intact)\n`,
          );
          process.exitCode = EXIT_REFUSED;
          return;
        }
        if (opts.anchor !== undefined && !result.checkpointHashes.includes(opts.anchor)) {
          process.stdout.write(
            `FAILED ${file}: the peer's anchor ${opts.anchor} is not among its ${result.checkpoints} checkpoints (records were removed or the log replaced)\n`,
          );
          process.exitCode = EXIT_REFUSED;
          return;
        }
        process.stdout.write(
          `ok ${file}: ${result.records} records, ${result.checkpoints} signed checkpoints verified` +
            `${result.checkpointHashes.length > 0 ? `; last checkpoint ${result.checkpointHashes.at(-1)}` : ''}` +
            `${live ? ' (the gateway is writing it: records after these are checked next time)' : ''}\n`,
        );
        process.exitCode = EXIT_OK;
      } catch (err) {
        process.exitCode = reportError(err);
      }
    });
  audit
    .command('export')
    .description('the records of a period, as CSV or JSON, for a supervisor')
    .requiredOption('--config <file>', 'the gateway config')
    .requiredOption('--from <date>', 'first day or time (ISO 8601)')
    .requiredOption('--to <date>', 'last day or time (ISO 8601; a day includes all of it)')
    .option('--format <format>', 'csv or json', 'csv')
    .option('--out <file>', 'write here instead of to standard output')
    .action((opts: { config: string; from: string; to: string; format: string; out?: string }) => {
      try {
        if (opts.format !== 'csv' && opts.format !== 'json') {
          process.stderr.write('--format must be csv or json\n');
          process.exitCode = EXIT_USAGE;
          return;
        }
        const config = loadConfig(opts.config);
        const from = date(opts.from, '--from');
        // A date without a time means the whole day.
        const to = new Date(
          date(opts.to, '--to').getTime() + (/^\d{4}-\d{2}-\d{2}$/.test(opts.to) ? 86_399_999 : 0),
        );
        const text = exportAudit(auditFileOf(config), from, to, opts.format);
        const count =
          opts.format === 'json' ? (JSON.parse(text) as unknown[]).length : text.split('\n').length - 2;
        if (opts.out !== undefined) writeFileSync(opts.out, text, { mode: 0o600 });
        else process.stdout.write(text);
        process.stderr.write(`exported ${count} records from ${from.toISOString()} to ${to.toISOString()}\n`);
        process.exitCode = EXIT_OK;
      } catch (err) {
        process.exitCode = reportError(err);
      }
    });
}
