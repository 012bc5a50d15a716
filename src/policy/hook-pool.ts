/**
 * Art. 9(4) refusal hooks off the event loop. A hook is user code: a `Promise.race` with a timer
 * cannot stop one that computes without yielding, and it would stall every delivery meanwhile. So the
 * hooks run on a small pool of long-lived worker threads (hook-thread.ts), each of which imports the
 * hook modules once and screens one request at a time:
 *
 * - A request waits for a free worker; its hook's `timeoutMs` counts from when a worker takes it.
 * - A hook that overruns it has its worker terminated — the one way to stop a synchronous
 *   computation — and counts as timed out (the request goes to review); a fresh worker takes the
 *   place of the old. A late answer is never heard: the worker that would give it is gone.
 * - A worker that dies fails its request as a hook that threw, and is replaced.
 * - Closing the pool fails what waits with `infra.unavailable`, so those requests are retried later
 *   rather than sent to review.
 *
 * Workers are reused across requests; one is started per pool slot at the gateway's start (where a
 * hook module that cannot be loaded stops the start with `config.invalid`), and again only after one
 * was terminated or died.
 */
import { Worker } from 'node:worker_threads';
import type { RefusalHookEntry } from '../config.js';
import { AccordError } from '../errors.js';
import type { FromHookThread, HookJob, HookModule } from './hook-thread.js';
import {
  HookFailed,
  HookTimedOut,
  type HookVerdict,
  type LoadedHook,
  type RefusalHookInput,
} from './hooks.js';

/** Worker threads of the hook pool: requests screened at the same time. */
export const HOOK_WORKERS = 2;

interface Job {
  hook: number;
  input: RefusalHookInput;
  timeoutMs: number;
  resolve: (answer: unknown) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  running?: { id: number; job: Job; timer: NodeJS.Timeout };
  /** The class name of the uncaught error that ends the thread, if one does. */
  crashedWith?: string;
}

/** Options of {@link HookPool}. */
export interface HookPoolOptions {
  /** @defaultValue {@link HOOK_WORKERS} */
  workers?: number;
  /** The worker script; tests may substitute one. @defaultValue hook-thread.js beside this file */
  workerUrl?: URL;
}

/** The configured hooks on worker threads (see the file header). */
export class HookPool {
  private readonly slots: Slot[] = [];
  private readonly waiting: Job[] = [];
  private readonly size: number;
  private readonly url: URL;
  private nextId = 0;
  private closed = false;

  private constructor(
    private readonly modules: readonly HookModule[],
    opts: HookPoolOptions,
  ) {
    this.size = Math.max(1, opts.workers ?? HOOK_WORKERS);
    this.url = opts.workerUrl ?? new URL('./hook-thread.js', import.meta.url);
  }

  /** Start the workers and wait until each has loaded every hook module; `config.invalid` if one cannot. */
  static async start(entries: readonly RefusalHookEntry[], opts: HookPoolOptions = {}): Promise<HookPool> {
    const pool = new HookPool(
      entries.map((e) => ({ id: e.id, module: e.module })),
      opts,
    );
    try {
      await Promise.all(Array.from({ length: pool.size }, () => pool.spawn()));
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  /**
   * Ask hook `hook` (its configured index) about `input`: its answer, unparsed. Fails with
   * {@link HookTimedOut} after `timeoutMs` on a worker, {@link HookFailed} when the hook threw or its
   * worker died, `infra.unavailable` once the pool is closed.
   */
  ask(hook: number, input: RefusalHookInput, timeoutMs: number): Promise<unknown> {
    if (this.closed) return Promise.reject(closedError());
    return new Promise<unknown>((resolve, reject) => {
      this.waiting.push({ hook, input, timeoutMs, resolve, reject });
      this.refill();
      this.pump();
    });
  }

  /** Workers running now (for tests and metrics). */
  get workers(): number {
    return this.slots.length;
  }

  /** Stop every worker; what waits or runs fails with `infra.unavailable`. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const gone = closedError();
    for (const job of this.waiting.splice(0)) job.reject(gone);
    const slots = this.slots.splice(0);
    for (const slot of slots) {
      if (slot.running) {
        clearTimeout(slot.running.timer);
        slot.running.job.reject(gone);
        slot.running = undefined;
      }
      slot.worker.removeAllListeners();
      slot.worker.on('error', () => undefined);
    }
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  /** Start a worker in a new slot; resolves once it loaded the hooks, rejects if it cannot. */
  private spawn(): Promise<void> {
    const slot: Slot = { worker: new Worker(this.url, { workerData: this.modules }), ready: false };
    this.slots.push(slot);
    return new Promise<void>((resolve, reject) => {
      slot.worker.on('message', (m: FromHookThread) => {
        if (m.type === 'ready') {
          slot.ready = true;
          resolve();
          this.pump();
        } else if (m.type === 'load-failed') {
          reject(this.loadError(m));
          this.retire(slot);
        } else {
          this.answered(slot, m);
        }
      });
      slot.worker.on('error', (err: Error) => {
        slot.crashedWith = err.name;
      });
      slot.worker.on('exit', () => {
        if (!slot.ready)
          reject(new AccordError('config.invalid', 'a refusal hook worker stopped while loading'));
        this.died(slot);
      });
    });
  }

  /** Keep the pool at its size (after workers were terminated), unless closed. */
  private refill(): void {
    while (!this.closed && this.slots.length < this.size) {
      // A replacement that cannot load fails the requests waiting (the modules changed under a running
      // gateway); the next request tries again.
      this.spawn().catch(() => {
        if (!this.slots.some((slot) => slot.ready)) this.failWaiting(new HookFailed('HookLoadError'));
      });
    }
  }

  /** Give each ready, idle worker the next waiting request. */
  private pump(): void {
    for (const slot of this.slots) {
      if (!slot.ready || slot.running) continue;
      const job = this.waiting.shift();
      if (!job) return;
      const id = ++this.nextId;
      const timer = setTimeout(() => this.overran(slot), job.timeoutMs);
      slot.running = { id, job, timer };
      try {
        slot.worker.postMessage({ id, hook: job.hook, input: job.input } satisfies HookJob);
      } catch (err) {
        clearTimeout(timer);
        slot.running = undefined;
        job.reject(err as Error);
      }
    }
  }

  private answered(slot: Slot, m: Exclude<FromHookThread, { type: 'ready' | 'load-failed' }>): void {
    const running = slot.running;
    if (!running || running.id !== m.id) return;
    clearTimeout(running.timer);
    slot.running = undefined;
    if (m.type === 'answer') running.job.resolve(m.answer);
    // No verdict: the strict parse refuses it.
    else if (m.type === 'unclonable') running.job.resolve(undefined);
    else running.job.reject(new HookFailed(m.name));
    this.pump();
  }

  /** The running hook overran its time: the worker is terminated, a fresh one takes its place. */
  private overran(slot: Slot): void {
    const running = slot.running;
    if (!running) return;
    slot.running = undefined;
    running.job.reject(new HookTimedOut());
    this.retire(slot);
    this.refill();
    this.pump();
  }

  /**
   * A worker ended (it crashed, or a hook ended its thread): its request failed; a worker that had
   * loaded the hooks is replaced (one that died loading is not: its start failed, see spawn).
   */
  private died(slot: Slot): void {
    const running = slot.running;
    this.retire(slot);
    if (running) {
      clearTimeout(running.timer);
      running.job.reject(new HookFailed(slot.crashedWith ?? 'WorkerExit'));
    }
    if (slot.ready) this.refill();
    this.pump();
  }

  /** Take a worker out of the pool and terminate it. */
  private retire(slot: Slot): void {
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
    slot.worker.removeAllListeners();
    slot.worker.on('error', () => undefined);
    void slot.worker.terminate();
  }

  private failWaiting(err: Error): void {
    for (const job of this.waiting.splice(0)) job.reject(err);
  }

  private loadError(m: Extract<FromHookThread, { type: 'load-failed' }>): AccordError {
    const e = this.modules[m.index]!;
    const path = `policy.hooks.${m.index}.module`;
    const what =
      m.reason === 'import'
        ? `cannot load ${e.module} (${m.message})`
        : `${e.module} exports no hook function (default or "screen")`;
    return new AccordError('config.invalid', `${path}: ${what}`, { path });
  }
}

function closedError(): AccordError {
  return new AccordError('infra.unavailable', 'the refusal hook workers are closed');
}

/** The configured hooks, ready to be asked, and how to stop their workers. */
export interface Hooks {
  hooks: readonly LoadedHook[];
  close(): Promise<void>;
}

/**
 * Start the configured hooks (Art. 9(4), `policy.hooks`) on a {@link HookPool}; a hook module that
 * cannot be loaded, or exports no hook function, stops the gateway's start (`config.invalid`). With no
 * hooks configured no worker is started.
 */
export async function startHooks(
  entries: readonly RefusalHookEntry[],
  opts: HookPoolOptions = {},
): Promise<Hooks> {
  if (entries.length === 0) return { hooks: [], close: () => Promise.resolve() };
  const pool = await HookPool.start(entries, opts);
  return {
    hooks: entries.map((e, i) => ({
      id: e.id,
      timeoutMs: e.timeoutMs,
      timedBySelf: true,
      // Unparsed: runHook parses the answer strictly.
      screen: (input: RefusalHookInput) => pool.ask(i, input, e.timeoutMs) as Promise<HookVerdict>,
    })),
    close: () => pool.close(),
  };
}
