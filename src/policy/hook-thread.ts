/**
 * Entry of a refusal-hook worker thread (hook-pool.ts starts it). It imports the configured hook
 * modules once, says it is ready, then screens one request at a time. Hook code runs here only, never
 * on the gateway's event loop: a hook that computes for long stalls this thread alone, and the pool
 * terminates it at the hook's time limit. Only the answer goes back — or, when the hook throws, the
 * class name of what it threw, never its text (which may quote the request).
 */
import { pathToFileURL } from 'node:url';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';

/** One configured hook module, as the thread is started with (in the configured order). */
export interface HookModule {
  id: string;
  /** Absolute path of the ES module. */
  module: string;
}

/** A screening for the thread: hook `hook` (its index) on `input`. */
export interface HookJob {
  id: number;
  hook: number;
  input: unknown;
}

/** What the thread says. */
export type FromHookThread =
  | { type: 'ready' }
  | { type: 'load-failed'; index: number; reason: 'import' | 'no-function'; message: string }
  | { type: 'answer'; id: number; answer: unknown }
  | { type: 'threw'; id: number; name: string }
  /** The answer cannot be passed between threads (a function, say): it is no verdict. */
  | { type: 'unclonable'; id: number };

type Screen = (input: unknown) => unknown;

/** Freeze a value and everything in it: a hook can change neither the request nor what it holds. */
function deepFreeze(o: unknown): void {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
}

/** Import each hook module; on the first that fails, say so and return nothing. */
async function load(modules: readonly HookModule[], port: MessagePort): Promise<Screen[] | undefined> {
  const screens: Screen[] = [];
  for (const [index, m] of modules.entries()) {
    let mod: { default?: unknown; screen?: unknown };
    try {
      mod = (await import(pathToFileURL(m.module).href)) as typeof mod;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      port.postMessage({ type: 'load-failed', index, reason: 'import', message } satisfies FromHookThread);
      return undefined;
    }
    const screen = typeof mod.default === 'function' ? mod.default : mod.screen;
    if (typeof screen !== 'function') {
      port.postMessage({
        type: 'load-failed',
        index,
        reason: 'no-function',
        message: '',
      } satisfies FromHookThread);
      return undefined;
    }
    screens.push(screen as Screen);
  }
  return screens;
}

/** Screen one job and send the answer back. */
async function screenOne(screens: readonly Screen[], job: HookJob, port: MessagePort): Promise<void> {
  let answer: unknown;
  try {
    deepFreeze(job.input);
    answer = await screens[job.hook]!(job.input);
  } catch (err) {
    const name = err instanceof Error ? String(err.name).slice(0, 64) : typeof err;
    port.postMessage({ type: 'threw', id: job.id, name } satisfies FromHookThread);
    return;
  }
  try {
    port.postMessage({ type: 'answer', id: job.id, answer } satisfies FromHookThread);
  } catch {
    port.postMessage({ type: 'unclonable', id: job.id } satisfies FromHookThread);
  }
}

if (parentPort) {
  const port = parentPort;
  const screens = await load(workerData as HookModule[], port);
  if (screens) {
    port.on('message', (job: HookJob) => void screenOne(screens, job, port));
    port.postMessage({ type: 'ready' } satisfies FromHookThread);
  }
}
