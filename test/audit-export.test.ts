/**
 * `accord audit export` on a large log: it streams (the first records are out before the log has been
 * read to its end, so memory does not grow with the log), verifies the chain as it goes and stops at
 * the first break with `audit.chain_broken` naming the record (`--no-verify` skips that), leaves no
 * half-written `--out` file, and writes what it always wrote.
 */
import { expect } from 'chai';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync, writeFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { GENESIS_HASH, recordHash, type AuditRecord } from '../src/audit/log.js';
import { CLI, ROOT, configFileFor, pairConfigs, runCli, uniqueStem } from './helpers/harness.js';
import { tempDir } from './helpers/temp.js';

const RECORDS = 50_000;

/** A chained log of `n` message records, a second apart from 2026-11-01, as lines. */
function chainedLog(n: number): string[] {
  const lines: string[] = [];
  let prevHash = GENESIS_HASH;
  const start = Date.parse('2026-11-01T00:00:00Z');
  for (let seq = 0; seq < n; seq++) {
    const body: Omit<AuditRecord, 'hash'> = {
      type: 'provision',
      messageId: `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`,
      kind: 'request',
      purposes: ['combating-crime'],
      categories: ['forgery'],
      subjectCount: 1,
      fromAuthority: 'CZ/cz-pp-ipc',
      toAuthority: 'KZ/kz-mia',
      seq,
      time: new Date(start + seq * 1000).toISOString(),
      prevHash,
    };
    const rec = { ...body, hash: recordHash(body) };
    prevHash = rec.hash;
    lines.push(JSON.stringify(rec));
  }
  return lines;
}

describe('accord audit export on a large log', function () {
  this.timeout(60_000);
  const lines = chainedLog(RECORDS);
  const dir = tempDir('export');
  /** A config whose audit file is `auditFile`. */
  const configWith = (auditFile: string) => {
    const file = configFileFor(pairConfigs(uniqueStem()).cz);
    const raw = JSON.parse(readFileSync(file, 'utf8')) as { records: Record<string, unknown> };
    raw.records.auditFile = auditFile;
    writeFileSync(file, JSON.stringify(raw));
    return file;
  };
  const exportArgs = (config: string) => [
    'audit',
    'export',
    '--config',
    config,
    '--from',
    '2026-11-01',
    '--to',
    '2026-12-31',
  ];

  /** What the streaming case leaves open if it fails: the export waiting on the pipe, and the pipe. */
  let running: { child: ChildProcess; log: WriteStream } | undefined;
  afterEach(() => {
    running?.log.destroy();
    if (running?.child.exitCode === null) running.child.kill('SIGKILL');
    running = undefined;
  });

  it('streams: the first records are out before the log has been read to its end', async () => {
    // The log is a named pipe this test writes: an export that reads it whole before writing has
    // nothing to show while the second half is held back.
    const fifo = join(dir, 'fifo.jsonl');
    execFileSync('mkfifo', [fifo]);
    const child = spawn('node', [CLI, ...exportArgs(configWith(fifo))], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const firstRecord = new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (b: Buffer) => {
        stdout += b.toString();
        if (stdout.includes('\n0,')) resolve();
      });
      child.once('exit', () => reject(new Error(`exited before any record was out: ${stderr}`)));
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const log = createWriteStream(fifo);
    running = { child, log };
    const half = RECORDS / 2;
    log.write(`${lines.slice(0, half).join('\n')}\n`);
    await firstRecord;
    // The rest of the log only now.
    log.end(`${lines.slice(half).join('\n')}\n`);
    expect(await exited, stderr).to.equal(0);
    expect(stdout.trim().split('\n')).to.have.length(RECORDS + 1);
    expect(stderr).to.match(
      new RegExp(`^exported ${RECORDS} records from .* the chain of all ${RECORDS} records verified`),
    );
  });

  it('verifies as it goes: a modified record stops it with the record named, and no --out file is left', async () => {
    const tampered = [...lines];
    tampered[31_337] = tampered[31_337]!.replace('"kind":"request"', '"kind":"reply"');
    const log = join(dir, 'tampered.jsonl');
    writeFileSync(log, `${tampered.join('\n')}\n`);
    const config = configWith(log);
    const out = join(dir, 'tampered.csv');
    const r = await runCli([...exportArgs(config), '--out', out]);
    expect(r.code).to.equal(1);
    expect(r.stderr.trim().split('\n'), r.stderr).to.have.length(1);
    expect(r.stderr).to.match(/^audit\.chain_broken: record 31337: hash mismatch/);
    expect(existsSync(out)).to.equal(false);
    expect(existsSync(`${out}.partial`)).to.equal(false);
    // --no-verify exports it as it is, and says it did not check.
    const unchecked = await runCli([...exportArgs(config), '--out', out, '--no-verify']);
    expect(unchecked.code, unchecked.stderr).to.equal(0);
    expect(unchecked.stderr).to.match(/exported 50000 records .*not verified \(--no-verify\)/);
    expect(readFileSync(out, 'utf8').trim().split('\n')).to.have.length(RECORDS + 1);
  });

  it('writes the JSON it always wrote: the records of the period as one indented array', async () => {
    const log = join(dir, 'small.jsonl');
    writeFileSync(log, `${lines.slice(0, 100).join('\n')}\n`);
    const r = await runCli([
      'audit',
      'export',
      '--config',
      configWith(log),
      '--from',
      '2026-11-01T00:00:10Z',
      '--to',
      '2026-11-01T00:00:20Z',
      '--format',
      'json',
    ]);
    expect(r.code, r.stderr).to.equal(0);
    const expected = lines.slice(10, 21).map((l) => JSON.parse(l) as unknown);
    expect(r.stdout).to.equal(`${JSON.stringify(expected, null, 2)}\n`);
    const none = await runCli([
      ...exportArgs(configWith(log)).slice(0, 4),
      '--from',
      '2020-01-01',
      '--to',
      '2020-01-02',
      '--format',
      'json',
    ]);
    expect(none.stdout).to.equal('[]\n');
  });
});
