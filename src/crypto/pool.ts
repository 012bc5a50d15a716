/**
 * Seal and open off the event loop: a pool of worker threads (node:worker_threads) running the same
 * seal.ts and open.ts as the inline path (pool-worker.ts), so the gateway's event loop keeps taking
 * deliveries, confirms and acks while a message is signed, encrypted, decrypted or verified.
 *
 * - Urgent first: a job marked urgent (Art. 9(1)) goes ahead of every normal job still waiting.
 * - Keys: each worker gets a ring's key sets and lifecycle state once per key-ring change (the ring's
 *   `generation`), before that ring's next job; jobs carry the ring's clock so that revocation, retirement
 *   and expiry are judged exactly as inline.
 * - Watchdog: a job that runs longer than `jobTimeoutMs` has its worker terminated and replaced, and
 *   fails with `infra.unavailable`, an error every pipeline retries: the message is requeued, not lost.
 *   A worker that dies fails its job the same way.
 *
 * `workers: 0` gives {@link INLINE_CRYPTO}: the same interface, on the calling thread.
 */
import { Worker } from 'node:worker_threads';
import { AccordError } from '../errors.js';
import type { KeyRing } from './keyring.js';
import { open, openAny, type OpenFacts, type OpenedAny } from './open.js';
import type { FromWorker, JobMessage, ToWorker, WorkerError } from './pool-worker.js';
import type { CryptoProfile } from './profile.js';
import { seal, sealTransfer, type SealedTransfer } from './seal.js';

/** Per-call options of {@link CryptoRunner}. */
export interface CryptoCallOptions {
  /** An urgent message's crypto goes ahead of the normal jobs waiting. @defaultValue false */
  urgent?: boolean;
}

/** What open returns: the verified payload and the facts shown on delivery. */
export interface Opened {
  payload: Buffer;
  facts: OpenFacts;
}

/** Seal and open, inline or on worker threads; the pipelines call only this. */
export interface CryptoRunner {
  seal(payload: Buffer, keys: KeyRing, profile: CryptoProfile, opts?: CryptoCallOptions): Promise<string>;
  open(
    input: Buffer | string,
    keys: KeyRing,
    profile: CryptoProfile,
    opts?: CryptoCallOptions,
  ): Promise<Opened>;
  /** Seal envelopes (their JSON texts) into one transfer (wire version 2, seal.ts). */
  sealTransfer(
    members: readonly string[],
    meta: { createdAt: string; transfer?: string },
    keys: KeyRing,
    profile: CryptoProfile,
    opts?: CryptoCallOptions,
  ): Promise<SealedTransfer>;
  /** Open a sealed message of either wire version (open.ts). */
  openAny(
    input: Buffer | string,
    keys: KeyRing,
    profile: CryptoProfile,
    opts?: CryptoCallOptions,
  ): Promise<OpenedAny>;
  /** Stop the workers; jobs still waiting fail with `infra.unavailable`. Idempotent. */
  close(): Promise<void>;
}

/** Seal and open on the calling thread (`crypto.workers: 0`). */
export const INLINE_CRYPTO: CryptoRunner = {
  seal: (payload, keys, profile) => seal(payload, keys, profile),
  open: (input, keys, profile) => open(input, keys, profile),
  sealTransfer: (members, meta, keys, profile) => sealTransfer(members, meta, keys, profile),
  openAny: (input, keys, profile) => openAny(input, keys, profile),
  close: () => Promise.resolve(),
};

/** Options of {@link CryptoPool}. */
export interface CryptoPoolOptions {
  /** Worker threads, at least 1. */
  workers: number;
  /** A job running longer than this, in milliseconds, has its worker replaced and fails (retried). */
  jobTimeoutMs: number;
  /**
   * Jobs one worker runs at once: a seal waits for its ephemeral key on libuv's pool, and another job
   * can use the thread meanwhile. Few keep jobs waiting in the pool, where urgent ones overtake; many
   * keep throughput near inline (bench, 2 cores: 4 → a third less bulk throughput, urgent p99 halved;
   * 32 → both near inline). @defaultValue 32
   */
  jobsPerWorker?: number;
  /** Called when a worker is replaced, with what it was doing (no message data). */
  onReplaced?: (info: { job: JobMessage['type']; reason: 'timeout' | 'exit' }) => void;
  /** The worker script; tests substitute one. @defaultValue pool-thread.js beside this file */
  workerUrl?: URL;
}

interface Job {
  message: JobMessage;
  ring: KeyRing;
  resolve: (value: FromWorker) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  /** The jobs this worker runs, by id, each with its watchdog timer. */
  jobs: Map<number, { job: Job; timer: NodeJS.Timeout }>;
  /** ring id → the generation of its keys this worker holds */
  rings: Map<number, number>;
}

function toError(e: WorkerError): Error {
  if (e.code === undefined) return new Error(e.message);
  return new AccordError(e.code, e.message, {
    ...(e.path === undefined ? {} : { path: e.path }),
    ...(e.messageId === undefined ? {} : { messageId: e.messageId }),
    ...(e.kid === undefined ? {} : { kid: e.kid }),
  });
}

const asBuffer = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
/** A copy of just these bytes: a Buffer may view a larger pooled block, which a clone would copy whole. */
const exactCopy = (b: Uint8Array) => new Uint8Array(b);

/** Seal and open on `workers` threads, urgent jobs first, with a watchdog (see the file header). */
export class CryptoPool implements CryptoRunner {
  private readonly slots: Slot[] = [];
  private readonly urgent: Job[] = [];
  private readonly normal: Job[] = [];
  private readonly url: URL;
  private readonly perWorker: number;
  private nextId = 0;
  private closing: Promise<void> | undefined;

  constructor(private readonly opts: CryptoPoolOptions) {
    if (!Number.isInteger(opts.workers) || opts.workers < 1) throw new Error('a crypto pool needs a worker');
    this.url = opts.workerUrl ?? new URL('./pool-thread.js', import.meta.url);
    this.perWorker = Math.max(1, opts.jobsPerWorker ?? 32);
    for (let i = 0; i < opts.workers; i++) this.slots.push(this.spawn());
  }

  async seal(
    payload: Buffer,
    keys: KeyRing,
    profile: CryptoProfile,
    opts: CryptoCallOptions = {},
  ): Promise<string> {
    const reply = await this.submit(keys, opts, (id, nowMs) => ({
      type: 'seal',
      id,
      ringId: keys.id,
      nowMs,
      profile,
      payload: exactCopy(payload),
    }));
    if (!('jwe' in reply)) throw new Error('the crypto worker answered a seal with something else');
    return reply.jwe;
  }

  async open(
    input: Buffer | string,
    keys: KeyRing,
    profile: CryptoProfile,
    opts: CryptoCallOptions = {},
  ): Promise<Opened> {
    const reply = await this.submit(keys, opts, (id, nowMs) => ({
      type: 'open',
      id,
      ringId: keys.id,
      nowMs,
      profile,
      input: typeof input === 'string' ? input : exactCopy(input),
    }));
    if (!('payload' in reply)) throw new Error('the crypto worker answered an open with something else');
    return { payload: asBuffer(reply.payload), facts: reply.facts };
  }

  async sealTransfer(
    members: readonly string[],
    meta: { createdAt: string; transfer?: string },
    keys: KeyRing,
    profile: CryptoProfile,
    opts: CryptoCallOptions = {},
  ): Promise<SealedTransfer> {
    const reply = await this.submit(keys, opts, (id, nowMs) => ({
      type: 'seal-transfer',
      id,
      ringId: keys.id,
      nowMs,
      profile,
      members: [...members],
      meta,
    }));
    if (!('sealed' in reply))
      throw new Error('the crypto worker answered a transfer seal with something else');
    return reply.sealed;
  }

  async openAny(
    input: Buffer | string,
    keys: KeyRing,
    profile: CryptoProfile,
    opts: CryptoCallOptions = {},
  ): Promise<OpenedAny> {
    const reply = await this.submit(keys, opts, (id, nowMs) => ({
      type: 'open-any',
      id,
      ringId: keys.id,
      nowMs,
      profile,
      input: typeof input === 'string' ? input : exactCopy(input),
    }));
    if ('transfer' in reply) return { transfer: reply.transfer, facts: reply.facts };
    if (!('payload' in reply)) throw new Error('the crypto worker answered an open with something else');
    return { payload: asBuffer(reply.payload), facts: reply.facts };
  }

  /** Jobs waiting for a worker (for metrics and tests). */
  get waiting(): number {
    return this.urgent.length + this.normal.length;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const gone = new AccordError('infra.unavailable', 'the crypto pool is closed');
      for (const job of [...this.urgent.splice(0), ...this.normal.splice(0)]) job.reject(gone);
      await Promise.all(
        this.slots.map(async (slot) => {
          for (const { job, timer } of slot.jobs.values()) {
            clearTimeout(timer);
            job.reject(gone);
          }
          slot.jobs.clear();
          slot.worker.removeAllListeners();
          await slot.worker.terminate();
        }),
      );
    })();
    return this.closing;
  }

  private submit(
    ring: KeyRing,
    opts: CryptoCallOptions,
    build: (id: number, nowMs: number) => JobMessage,
  ): Promise<FromWorker> {
    if (this.closing)
      return Promise.reject(new AccordError('infra.unavailable', 'the crypto pool is closed'));
    // Key states are judged at the instant of the call, as inline.
    const message = build(++this.nextId, ring.now().getTime());
    return new Promise<FromWorker>((resolve, reject) => {
      (opts.urgent === true ? this.urgent : this.normal).push({ message, ring, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.urgent.length + this.normal.length > 0) {
      // The least busy worker with room takes the next job.
      let slot: Slot | undefined;
      for (const s of this.slots) {
        if (s.jobs.size < this.perWorker && (!slot || s.jobs.size < slot.jobs.size)) slot = s;
      }
      if (!slot) return;
      this.dispatch(slot, (this.urgent.shift() ?? this.normal.shift())!);
    }
  }

  private dispatch(slot: Slot, job: Job): void {
    const { ring } = job;
    if (slot.rings.get(ring.id) !== ring.generation) {
      const keys: ToWorker = { type: 'keys', ringId: ring.id, snapshot: ring.snapshot() };
      slot.worker.postMessage(keys);
      slot.rings.set(ring.id, ring.generation);
    }
    const timer = setTimeout(() => this.replace(slot, 'timeout', job), this.opts.jobTimeoutMs);
    slot.jobs.set(job.message.id, { job, timer });
    const m = job.message;
    const bytes =
      m.type === 'seal'
        ? m.payload
        : m.type === 'seal-transfer' || typeof m.input === 'string'
          ? undefined
          : m.input;
    slot.worker.postMessage(m, bytes ? [bytes.buffer as ArrayBuffer] : []);
  }

  private spawn(): Slot {
    const slot: Slot = { worker: new Worker(this.url), jobs: new Map(), rings: new Map() };
    slot.worker.on('message', (reply: FromWorker) => {
      const running = slot.jobs.get(reply.id);
      if (!running) return;
      clearTimeout(running.timer);
      slot.jobs.delete(reply.id);
      const { job } = running;
      if (reply.ok) job.resolve(reply);
      else job.reject(toError(reply.error));
      this.pump();
    });
    // An uncaught failure ends the thread; 'exit' follows and replaces it.
    slot.worker.on('error', () => undefined);
    slot.worker.on('exit', () => {
      if (!this.closing) this.replace(slot, 'exit');
    });
    return slot;
  }

  /**
   * Terminate a stuck or dead worker, fail its jobs (retried upstream) and start a fresh one in its
   * place. `stuck` is the job that overran its time, if that is why.
   */
  private replace(slot: Slot, reason: 'timeout' | 'exit', stuck?: Job): void {
    const i = this.slots.indexOf(slot);
    if (i < 0 || this.closing) return;
    slot.worker.removeAllListeners();
    slot.worker.on('error', () => undefined);
    void slot.worker.terminate();
    this.slots[i] = this.spawn();
    const jobs = [...slot.jobs.values()];
    slot.jobs.clear();
    const first = stuck ?? jobs[0]?.job;
    if (first) this.opts.onReplaced?.({ job: first.message.type, reason });
    for (const { job, timer } of jobs) {
      clearTimeout(timer);
      const kind = job.message.type;
      job.reject(
        new AccordError(
          'infra.unavailable',
          job === stuck
            ? `a crypto worker took longer than ${this.opts.jobTimeoutMs} ms to ${kind}; it was replaced and the message will be retried`
            : `a crypto worker stopped during a ${kind}; it was replaced and the message will be retried`,
        ),
      );
    }
    this.pump();
  }
}

/** The runner for a `crypto.workers` setting: inline for 0, else a pool of that many threads. */
export function cryptoRunner(opts: CryptoPoolOptions): CryptoRunner {
  return opts.workers === 0 ? INLINE_CRYPTO : new CryptoPool(opts);
}
