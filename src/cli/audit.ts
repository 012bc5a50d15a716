/**
 * `accord audit verify | export`: the Art. 10(6) records. `verify` walks the hash chain of the
 * gateway's audit log and checks every signed checkpoint with the gateway's own signing keys; it names
 * the first record that was modified, deleted, reordered or cut off (exit 1). With `--anchor`, it also
 * checks that the log still holds the checkpoint the peer keeps as its anchor (records removed from the
 * end show only against such an anchor). `export` writes the records of a period for a supervisor, as
 * it reads them (bounded memory, whatever the size of the log), and verifies the chain the same way as
 * it goes: the first break stops it with `audit.chain_broken` (`--no-verify` skips the check).
 */
import { createWriteStream, renameSync, rmSync, statSync, type WriteStream } from 'node:fs';
import type { Command } from 'commander';
import { loadConfig, type Config } from '../config.js';
import { checkpointVerifier } from '../audit/checkpoint.js';
import { exportAudit, heldByLiveWriter, verifyAuditFile, type CheckpointVerifier } from '../audit/log.js';
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
        const file = opts.file ?? auditFileOf(config);
        const live = heldByLiveWriter(file);
        const verifier = await auditVerifier(config, opts.keys);
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
    .description(
      'the records of a period, as CSV or JSON, for a supervisor; the chain is verified as it is read',
    )
    .requiredOption('--config <file>', 'the gateway config')
    .requiredOption('--from <date>', 'first day or time (ISO 8601)')
    .requiredOption('--to <date>', 'last day or time (ISO 8601; a day includes all of it)')
    .option('--format <format>', 'csv or json', 'csv')
    .option('--out <file>', 'write here instead of to standard output')
    .option('--no-verify', 'do not walk the hash chain and check the checkpoints while exporting')
    .option(
      '--keys <file>',
      'public signing keys to check old checkpoints with, besides the key history (as for verify)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .action(async (opts: ExportOpts) => {
      let partial: string | undefined;
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
        const file = auditFileOf(config);
        const verifier = opts.verify ? await auditVerifier(config, opts.keys) : undefined;
        // A file is written beside its name and renamed when whole: a failed export leaves none.
        partial = opts.out === undefined ? undefined : `${opts.out}.partial`;
        const out = partial === undefined ? process.stdout : createWriteStream(partial, { mode: 0o600 });
        // Not between the records when they go to the same terminal.
        const progress = progressLine(file, partial !== undefined || !process.stdout.isTTY);
        const result = await exportAudit(file, from, to, opts.format, out, {
          verify: opts.verify,
          ...(verifier === undefined ? {} : { verifier }),
          live: heldByLiveWriter(file),
          onProgress: progress.update,
        });
        progress.clear();
        if (partial !== undefined && opts.out !== undefined) {
          const stream = out as WriteStream;
          await new Promise<void>((resolve, reject) =>
            stream.end((err?: Error | null) => (err ? reject(err) : resolve())),
          );
          renameSync(partial, opts.out);
          partial = undefined;
        }
        const checked = !opts.verify
          ? 'not verified (--no-verify)'
          : `the chain of all ${result.records} records verified, ${result.checkpoints} signed checkpoints` +
            (result.unknownKeys > 0
              ? `; ${result.unknownKeys} checkpoints signed by keys not in the key history were not checked (give them with --keys)`
              : '');
        process.stderr.write(
          `exported ${result.exported} records from ${from.toISOString()} to ${to.toISOString()}; ${checked}\n`,
        );
        process.exitCode = EXIT_OK;
      } catch (err) {
        process.stderr.write(process.stderr.isTTY ? '\r\x1b[K' : '');
        if (partial !== undefined) rmSync(partial, { force: true });
        process.exitCode = reportError(err);
      }
    });
}

interface ExportOpts {
  config: string;
  from: string;
  to: string;
  format: string;
  out?: string;
  verify: boolean;
  keys: string[];
}

/**
 * The checkpoint verifier `verify` and `export` use: each checkpoint is checked with the key that
 * signed it — an own key, one from the key history (every own signing key ever used), or one given
 * with --keys.
 */
async function auditVerifier(config: Config, keyFiles: string[]): Promise<CheckpointVerifier> {
  const keys = await loadKeyRing(config, () => new Date());
  const earlier = [
    ...readKeyHistory(keyHistoryPath(statePathOf(config))).map((e) => e.key),
    ...keyFiles.flatMap((f) => readPublicJwks(f).keys),
  ];
  return checkpointVerifier(keys, config.crypto, earlier);
}

/** On a terminal, a line on stderr that says how far the export has read; elsewhere nothing. */
function progressLine(
  file: string,
  wanted: boolean,
): { update: (records: number) => void; clear: () => void } {
  if (!wanted || !process.stderr.isTTY) return { update: () => undefined, clear: () => undefined };
  let size = 0;
  try {
    size = statSync(file).size;
  } catch {
    // No file: the export says so itself.
  }
  let shown = 0;
  return {
    update: (records) => {
      const now = Date.now();
      if (now - shown < 500) return;
      shown = now;
      process.stderr.write(`\rexport: ${records} records read of a ${(size / 1e6).toFixed(0)} MB log…`);
    },
    clear: () => void process.stderr.write('\r\x1b[K'),
  };
}
