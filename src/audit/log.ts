/**
 * Art. 10(6) audit log: an append-only, hash-chained file of one JSON line per record. Records carry
 * ids, kinds, purposes, categories and the NUMBER of data subjects, never the data itself (Art. 10(7)).
 * Appends are group-committed: every caller of `append` resolves only after its line is fsync'ed, so a
 * record caused by an AMQP message is durable before that message is acked. One writer per file: an
 * exclusive lock file (`<file>.lock`, created with O_EXCL) refuses a second process on the same dir.
 *
 * A write that fails (a full disk, a file made read-only) fails closed: the callers of that write get
 * `infra.audit_unwritable` (their messages wait and come back; none is acked without its record), the
 * file is cut back to its last complete record and the chain resumes from there, so the records
 * appended once space returns continue an intact chain. `onUnwritable` tells the gateway once per
 * failure spell (an alert; /readyz fails meanwhile), `onWritable` when a write succeeds again.
 */
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, readFileSync } from 'node:fs';
import { access, constants, open, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { Config } from '../config.js';
import { AccordError, ERROR_CODES } from '../errors.js';

export const AUDIT_TYPES = [
  'provision',
  'receipt',
  'refusal',
  'consent',
  'correction',
  'erasure',
  'destruction',
  'suspension',
  'export-decision',
  'key-operation',
  'decision',
  'termination',
  'usage-report',
  'dead-letter-drop',
  'dead-letter-replay',
  'directory',
  'checkpoint',
  'peer-anchor',
] as const;
export type AuditType = (typeof AUDIT_TYPES)[number];

/** What a pipeline stage hands to the log; sequence, time and hashes are added by the log. */
export const AuditInputSchema = z
  .object({
    type: z.enum(AUDIT_TYPES),
    messageId: z.string().max(200).optional(),
    kind: z.string().max(100).optional(),
    purposes: z.array(z.string().max(200)).max(50).optional(),
    categories: z.array(z.string().max(100)).max(50).optional(),
    subjectCount: z.number().int().nonnegative().optional(),
    fromAuthority: z.string().max(200).optional(),
    toAuthority: z.string().max(200).optional(),
    reason: z.string().max(500).optional(),
    /** Art. 10(5): the destruction deadline the provider set. */
    destroyBy: z.string().max(40).optional(),
    /** Who decided (a refusal, a review decision, a key operation): a rule, hook, person or authority id. */
    decidedBy: z.string().max(200).optional(),
    /** The other message a record is about: the corrected original, the request a report answers. */
    refersTo: z.string().max(200).optional(),
    /** checkpoint: compact JWS over seq+hash+time; peer-anchor: the peer's checkpoint hash. */
    signature: z.string().max(20_000).optional(),
    anchor: z.string().max(200).optional(),
  })
  .strict();
export type AuditInput = z.infer<typeof AuditInputSchema>;

export const AuditRecordSchema = AuditInputSchema.extend({
  seq: z.number().int().nonnegative(),
  time: z.string().datetime(),
  prevHash: z.string().regex(/^[0-9a-f]{64}$/),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
}).strict();
export type AuditRecord = z.infer<typeof AuditRecordSchema>;

export const GENESIS_HASH = '0'.repeat(64);
const MAX_LINE = 64 * 1024;

/** Canonical serialization: keys sorted, no whitespace, `hash` left out. */
export function canonical(rec: Omit<AuditRecord, 'hash'>): string {
  const sorted = Object.keys(rec)
    .filter((k) => k !== 'hash')
    .sort()
    .map((k) => [k, (rec as Record<string, unknown>)[k]] as const)
    .filter(([, v]) => v !== undefined);
  return JSON.stringify(Object.fromEntries(sorted));
}

export function recordHash(rec: Omit<AuditRecord, 'hash'>): string {
  return createHash('sha256').update(canonical(rec)).digest('hex');
}

/** Signs a checkpoint payload (the gateway's signing key, compact JWS). */
export type CheckpointSigner = (payload: Buffer) => Promise<string>;
/** Verifies a compact JWS and returns its payload, or throws. */
export type CheckpointVerifier = (jws: string) => Promise<Buffer>;

/** The port the pipelines call (see src/pipeline/ports.ts). */
export interface AuditSink {
  append(input: AuditInput): Promise<AuditRecord>;
  latestCheckpointHash(): string | undefined;
}

export interface AuditLogOptions {
  file: string;
  now: () => Date;
  signer?: CheckpointSigner;
  checkpointEvery: number;
  /** Called once when writes start failing (with the errno code, e.g. ENOSPC), not per record. */
  onUnwritable?: (reason: string) => void;
  /** Called once when a write succeeds after a failure. */
  onWritable?: () => void;
}

/** One line waiting to be written, and the chain state it was built in. */
interface PendingLine {
  line: string;
  epoch: number;
  done: () => void;
  fail: (e: unknown) => void;
}

export class AuditLog implements AuditSink {
  private seq = 0;
  private prevHash = GENESIS_HASH;
  private sinceCheckpoint = 0;
  private lastCheckpoint: string | undefined;
  private pending: PendingLine[] = [];
  private flushing: Promise<void> | null = null;
  private lastError: string | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  /** Bytes of the file that hold complete, fsync'ed records; a failed write is cut back to this. */
  private durableSize = 0;
  /** The chain as of the last durable record: where it resumes after a failed write. */
  private durable = { seq: 0, prevHash: GENESIS_HASH };
  /** Bumped by each failed write: lines built before it chain from records that were never written. */
  private epoch = 0;
  /** A cut back that failed: the next write cuts first. */
  private cutPending = false;

  private constructor(
    private readonly fh: FileHandle,
    private readonly opts: AuditLogOptions,
  ) {}

  /** Opens (creating the dir), takes the writer lock and resumes the chain from the last record. */
  static async open(opts: AuditLogOptions): Promise<AuditLog> {
    mkdirSync(join(opts.file, '..'), { recursive: true });
    const lock = await takeLock(`${opts.file}.lock`);
    await lock.writeFile(String(process.pid));
    await lock.close();
    const fh = await open(opts.file, 'a');
    const log = new AuditLog(fh, opts);
    const lines = readLines(opts.file);
    const last = lines.at(-1);
    if (last !== undefined) {
      const rec = AuditRecordSchema.parse(JSON.parse(last));
      log.seq = rec.seq + 1;
      log.prevHash = rec.hash;
      const cp = [...lines].reverse().find((l) => l.includes('"type":"checkpoint"'));
      if (cp !== undefined) log.lastCheckpoint = AuditRecordSchema.parse(JSON.parse(cp)).hash;
    }
    log.durableSize = (await stat(opts.file)).size;
    log.durable = { seq: log.seq, prevHash: log.prevHash };
    return log;
  }

  latestCheckpointHash(): string | undefined {
    return this.lastCheckpoint;
  }

  /** Why the log cannot be written (for readiness), or undefined: the last write failed, or the file is gone. */
  async unwritable(): Promise<string | undefined> {
    if (this.lastError !== undefined) return `the last write failed (${this.lastError})`;
    try {
      await access(this.opts.file, constants.W_OK);
      return undefined;
    } catch (e) {
      return `${this.opts.file} is not writable (${(e as NodeJS.ErrnoException).code ?? 'error'})`;
    }
  }

  /** The next sequence number: how many records the file holds. */
  recordsWritten(): number {
    return this.seq;
  }

  /** Appends one record; resolves once it is on disk (fsync'ed). */
  append(input: AuditInput): Promise<AuditRecord> {
    const parsed = AuditInputSchema.parse(input);
    // Records are chained, so building them is serialized; writing them is group-committed.
    const built = this.chain.then(() => {
      const rec = this.build(parsed);
      const written = this.write(rec);
      this.sinceCheckpoint++;
      let cp: Promise<void> | undefined;
      if (this.opts.signer !== undefined && this.sinceCheckpoint >= this.opts.checkpointEvery) {
        cp = this.checkpointLocked();
      }
      return { rec, written, cp };
    });
    this.chain = built.then(async (b) => b.cp).catch(() => undefined);
    return built.then(async ({ rec, written }) => {
      await written;
      return rec;
    });
  }

  /** Writes a signed checkpoint now (also called on a timer by the gateway). */
  checkpoint(): Promise<void> {
    const p = this.chain.then(async () => this.checkpointLocked());
    this.chain = p.catch(() => undefined);
    return p;
  }

  private async checkpointLocked(): Promise<void> {
    const signer = this.opts.signer;
    if (signer === undefined) return;
    this.sinceCheckpoint = 0;
    const time = this.opts.now().toISOString();
    const epoch = this.epoch;
    const payload = Buffer.from(JSON.stringify({ seq: this.seq - 1, hash: this.prevHash, time }));
    const signature = await signer(payload);
    // A failed write while signing cut back the records this checkpoint signs: the next one will.
    if (epoch !== this.epoch) throw unwritableError(this.lastError ?? 'write failed');
    const rec = this.build({ type: 'checkpoint', signature }, time);
    this.lastCheckpoint = rec.hash;
    await this.write(rec);
  }

  private build(input: AuditInput, time = this.opts.now().toISOString()): AuditRecord {
    const body = { ...input, seq: this.seq, time, prevHash: this.prevHash };
    const rec = { ...body, hash: recordHash(body) };
    this.seq++;
    this.prevHash = rec.hash;
    return rec;
  }

  private write(rec: AuditRecord): Promise<void> {
    return new Promise((done, fail) => {
      this.pending.push({ line: `${JSON.stringify(rec)}\n`, epoch: this.epoch, done, fail });
      if (this.flushing === null) this.flushing = this.flush();
    });
  }

  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0);
      // Lines built before a failed write chain from records that were never written: they fail too
      // (their callers retry and build them again on the cut-back chain).
      const stale = batch.filter((b) => b.epoch !== this.epoch);
      const live = batch.filter((b) => b.epoch === this.epoch);
      for (const b of stale) b.fail(unwritableError(this.lastError ?? 'write failed'));
      if (live.length === 0) continue;
      const text = live.map((b) => b.line).join('');
      const tail = { seq: this.seq, prevHash: this.prevHash };
      try {
        if (this.cutPending) {
          await this.fh.truncate(this.durableSize);
          this.cutPending = false;
        }
        await writeAll(this.fh, Buffer.from(text));
        await this.fh.sync();
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? 'write failed';
        await this.cutBack(code);
        for (const b of live) b.fail(unwritableError(code, e));
        continue;
      }
      this.durableSize += Buffer.byteLength(text);
      // `tail` was read when the batch was taken, before anything built since: the chain after its
      // last line.
      this.durable = tail;
      if (this.lastError !== undefined) {
        this.lastError = undefined;
        this.opts.onWritable?.();
      }
      for (const b of live) b.done();
    }
    this.flushing = null;
  }

  /**
   * After a failed write: cut the file back to its last complete record (a partial line would break
   * the chain for every later record), resume the chain there, and say so once per failure spell.
   */
  private async cutBack(code: string): Promise<void> {
    this.epoch++;
    this.seq = this.durable.seq;
    this.prevHash = this.durable.prevHash;
    this.sinceCheckpoint = 0;
    try {
      await this.fh.truncate(this.durableSize);
    } catch {
      // The next write cuts first (an append-mode handle writes at the end, after any partial line).
      this.cutPending = true;
    }
    const first = this.lastError === undefined;
    this.lastError = code;
    if (first) this.opts.onUnwritable?.(code);
  }

  async close(): Promise<void> {
    await this.chain;
    if (this.flushing !== null) await this.flushing;
    await this.fh.close();
    await unlink(`${this.opts.file}.lock`).catch(() => undefined);
  }
}

/** True while a running process holds the log's lock (its last line may be being written). */
export function heldByLiveWriter(file: string): boolean {
  try {
    const pid = Number.parseInt(readFileSync(`${file}.lock`, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid);
  } catch {
    return false;
  }
}

/** True when a process with this pid runs on this machine. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Creates the lock file exclusively. A lock left by a process that no longer runs (a crash, `kill -9`)
 * is taken over, so a gateway restarts after a crash without an operator; a live holder is refused.
 */
async function takeLock(path: string): Promise<FileHandle> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await open(path, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw lockError(path, e);
      const holder = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
      if (Number.isInteger(holder) && holder > 0 && (holder === process.pid || alive(holder))) {
        throw lockError(path, e);
      }
      await unlink(path).catch(() => undefined);
    }
  }
}

/**
 * Write all of `bytes`: a write(2) on a nearly full disk may take only part of them without an error,
 * and the rest then fails (ENOSPC) or is written by the next call.
 */
async function writeAll(fh: FileHandle, bytes: Buffer): Promise<void> {
  for (let at = 0; at < bytes.length;) {
    const { bytesWritten } = await fh.write(bytes, at, bytes.length - at);
    if (bytesWritten === 0) throw Object.assign(new Error('no byte written'), { code: 'ENOSPC' });
    at += bytesWritten;
  }
}

/** The failure a caller of a failed write gets: its message waits and comes back (disposition retry). */
function unwritableError(code: string, cause?: unknown): AccordError {
  return new AccordError(
    'infra.audit_unwritable',
    `${ERROR_CODES['infra.audit_unwritable']} (${code})`,
    cause === undefined ? {} : { cause },
  );
}

function lockError(path: string, cause: unknown): Error {
  return new Error(
    `audit log ${path.slice(0, -'.lock'.length)} is held by another writer (a running process holds ${path})`,
    { cause },
  );
}

function readLines(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter((l) => l.length > 0);
}

export interface VerifyResult {
  ok: boolean;
  records: number;
  checkpoints: number;
  /** The hashes of the checkpoint records, in order (what the peer holds as anchors). */
  checkpointHashes: string[];
  /** Sequence number (or line position when unparseable) of the first bad record. */
  badSeq?: number;
  problem?: string;
  /**
   * Checkpoints whose signing key (`kid`) is neither an own signing key nor in the key history: the
   * chain walk goes on past them (the hash chain still holds), and the result is not ok.
   */
  unknownKeys?: { seq: number; kid: string }[];
  /** Set when the whole chain holds and only checkpoints with unknown keys keep the result from ok. */
  chainIntact?: true;
}

/** One line of the log as read: `terminated` is false for a last line without its newline. */
export interface AuditLine {
  line: string;
  terminated: boolean;
}

/**
 * The lines of the log, read as a stream: memory stays at a chunk and a line, whatever the size of the
 * file. A line longer than a record may be is given cut short after the limit (it is bad either way),
 * and nothing after it is read.
 */
export async function* auditLines(file: string): AsyncGenerator<AuditLine> {
  let rest = '';
  for await (const chunk of createReadStream(file, { encoding: 'utf8', highWaterMark: 256 * 1024 })) {
    const parts = (rest + (chunk as string)).split('\n');
    rest = parts.pop() ?? '';
    for (const line of parts) {
      yield { line, terminated: true };
      if (line.length > MAX_LINE) return;
    }
    if (rest.length > MAX_LINE) {
      yield { line: rest.slice(0, MAX_LINE + 1), terminated: true };
      return;
    }
  }
  if (rest !== '') yield { line: rest, terminated: false };
}

/**
 * The chain check, one record at a time: each line parses, its seq is the next one, its prevHash is the
 * previous hash and its hash recomputes. A deleted or reordered record breaks seq/prevHash; a modified
 * one breaks its hash; a truncated last line does not parse. Checkpoint signatures are checked when a
 * verifier is given. `accord audit verify` and `accord audit export` both walk the log with it.
 */
export class ChainWalk {
  /** Records checked and found good so far: the sequence number the next one must have. */
  records = 0;
  checkpoints = 0;
  readonly checkpointHashes: string[] = [];
  readonly unknownKeys: { seq: number; kid: string }[] = [];
  private prev = GENESIS_HASH;

  constructor(private readonly verifier?: CheckpointVerifier) {}

  /** The next line's record, or what is wrong with it (the walk then stops: it is the first break). */
  async next(line: string, unterminated = false): Promise<{ rec: AuditRecord } | { problem: string }> {
    const i = this.records;
    if (line.length > MAX_LINE) return { problem: 'record too large' };
    let rec: AuditRecord;
    try {
      rec = AuditRecordSchema.parse(JSON.parse(line));
    } catch {
      return { problem: unterminated ? 'truncated record' : 'unparseable record' };
    }
    if (rec.seq !== i) return { problem: `expected sequence ${i}, found ${rec.seq} (deleted or reordered)` };
    if (rec.prevHash !== this.prev)
      return { problem: 'previous-hash link broken (deleted or reordered record)' };
    const { hash, ...body } = rec;
    if (recordHash(body) !== hash) return { problem: 'hash mismatch (record modified)' };
    if (rec.type === 'checkpoint' && this.verifier !== undefined) {
      try {
        const payload = z
          .object({ seq: z.number(), hash: z.string(), time: z.string() })
          .strict()
          .parse(JSON.parse((await this.verifier(rec.signature ?? '')).toString('utf8')));
        if (payload.seq !== i - 1 || payload.hash !== this.prev)
          return { problem: 'checkpoint signs another chain position' };
        this.checkpoints++;
      } catch (err) {
        if (!(err instanceof AccordError && err.code === 'crypto.unknown_kid')) {
          return { problem: 'checkpoint signature does not verify' };
        }
        // Signed by a key this verifier was not given (e.g. a history lost with a restore): the chain
        // itself still holds, so the walk goes on and the result names every such checkpoint.
        this.unknownKeys.push({ seq: i, kid: err.kid ?? '(none)' });
      }
      this.checkpointHashes.push(hash);
    } else if (rec.type === 'checkpoint') {
      this.checkpoints++;
      this.checkpointHashes.push(hash);
    }
    this.prev = hash;
    this.records++;
    return { rec };
  }
}

/**
 * Walks the chain of a log file (see {@link ChainWalk}), reading it as a stream, and says whether it
 * holds and where it first breaks.
 */
export async function verifyAuditFile(
  file: string,
  verifier?: CheckpointVerifier,
  opts: { live?: boolean } = {},
): Promise<VerifyResult> {
  const walk = new ChainWalk(verifier);
  const facts = () => ({
    checkpoints: walk.checkpoints,
    checkpointHashes: walk.checkpointHashes,
  });
  for await (const { line, terminated } of auditLines(file)) {
    // A log its writer still holds may end in a line being written right now: that line is not
    // judged (run verify again, or on a stopped gateway, to judge it).
    if (!terminated && opts.live === true) break;
    const at = walk.records;
    const r = await walk.next(line, !terminated);
    if ('problem' in r) {
      return {
        ok: false,
        records: at,
        ...facts(),
        badSeq: at,
        problem: r.problem,
        ...(walk.unknownKeys.length > 0 ? { unknownKeys: walk.unknownKeys } : {}),
      };
    }
    if (!terminated) {
      // The last line lacks its newline although it parsed: the file was cut right after a record.
      return { ok: false, records: at, ...facts(), badSeq: at, problem: 'truncated record' };
    }
  }
  const { unknownKeys } = walk;
  if (unknownKeys.length > 0) {
    const list = unknownKeys.map((u) => `record ${u.seq} (kid ${u.kid})`).join(', ');
    return {
      ok: false,
      records: walk.records,
      ...facts(),
      badSeq: unknownKeys[0]!.seq,
      problem: `${unknownKeys.length} checkpoint${unknownKeys.length === 1 ? '' : 's'} signed by keys that are not in the key history: ${list}`,
      unknownKeys,
      chainIntact: true,
    };
  }
  return { ok: true, records: walk.records, ...facts() };
}

/** Where an export writes: a stream whose `write` returns false when its buffer is full. */
export interface ExportSink {
  write(chunk: string): boolean;
  once(event: 'drain', listener: () => void): unknown;
}

export interface ExportOptions {
  /** Walk the chain (and check the checkpoints with `verifier`) while exporting; a break stops the export. */
  verify: boolean;
  verifier?: CheckpointVerifier;
  /** The writer holds the log: a last line without its newline is being written and is left out. */
  live?: boolean;
  /** Called now and then with the records read so far. */
  onProgress?: (records: number) => void;
}

/** What an export did. */
export interface ExportResult {
  exported: number;
  /** Records read (and, with `verify`, found good). */
  records: number;
  checkpoints: number;
  /** Checkpoints signed by keys the verifier was not given (their records chain; the signature is unchecked). */
  unknownKeys: number;
}

const CSV_COLUMNS = [
  'seq',
  'time',
  'type',
  'messageId',
  'kind',
  'purposes',
  'categories',
  'subjectCount',
  'fromAuthority',
  'toAuthority',
  'reason',
  'decidedBy',
  'refersTo',
  'destroyBy',
  'anchor',
  'prevHash',
  'hash',
] as const;

function csvCell(v: string | number | readonly string[] | undefined): string {
  const s = v === undefined ? '' : Array.isArray(v) ? v.join(';') : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * Writes the records whose time lies in [from, to] to `out`, for a supervisor, as it reads them: memory
 * stays bounded whatever the size of the log (the sink's back-pressure is awaited). With `verify`, the
 * whole chain is walked as it goes, and the first break throws `audit.chain_broken` naming the record
 * (what was written before it stays written: the caller discards it).
 */
export async function exportAudit(
  file: string,
  from: Date,
  to: Date,
  format: 'csv' | 'json',
  out: ExportSink,
  opts: ExportOptions,
): Promise<ExportResult> {
  const walk = new ChainWalk(opts.verifier);
  let buffered = '';
  const emit = async (text: string, force = false) => {
    buffered += text;
    if (buffered.length < 64 * 1024 && !force) return;
    const chunk = buffered;
    buffered = '';
    if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', resolve));
  };
  let exported = 0;
  let read = 0;
  if (format === 'csv') await emit(`${CSV_COLUMNS.join(',')}\n`);
  for await (const { line, terminated } of auditLines(file)) {
    if (!terminated && opts.live === true) break;
    let rec: AuditRecord;
    if (opts.verify) {
      const r = await walk.next(line, !terminated);
      if ('problem' in r) throw chainBroken(walk.records, r.problem);
      if (!terminated) throw chainBroken(walk.records - 1, 'truncated record');
      rec = r.rec;
    } else {
      const r = AuditRecordSchema.safeParse(safeJson(line));
      if (!r.success) throw chainBroken(read, terminated ? 'unparseable record' : 'truncated record');
      rec = r.data;
    }
    read++;
    if (read % 10_000 === 0) opts.onProgress?.(read);
    const t = Date.parse(rec.time);
    if (t < from.getTime() || t > to.getTime()) continue;
    if (format === 'json') {
      // What JSON.stringify(records, null, 2) writes, one record at a time.
      await emit(`${exported === 0 ? '[\n' : ',\n'}  ${JSON.stringify(rec, null, 2).replace(/\n/g, '\n  ')}`);
    } else {
      await emit(`${CSV_COLUMNS.map((c) => csvCell(rec[c])).join(',')}\n`);
    }
    exported++;
  }
  if (format === 'json') await emit(exported === 0 ? '[]\n' : '\n]\n', true);
  else await emit('', true);
  return {
    exported,
    records: read,
    checkpoints: walk.checkpoints,
    unknownKeys: walk.unknownKeys.length,
  };
}

function safeJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

function chainBroken(seq: number, problem: string): AccordError {
  return new AccordError(
    'audit.chain_broken',
    `record ${seq}: ${problem} (the ${seq} records before it are intact)`,
  );
}

/** The gateway's audit log file (Art. 10(6)), as the config loader resolved it. */
export function auditFileOf(config: Config): string {
  // checkConfigData always fills it in (beside the config file when absent): one place for the default.
  const file = config.records.auditFile;
  if (file === undefined) throw new AccordError('config.invalid', 'records.auditFile is not resolved');
  return file;
}
