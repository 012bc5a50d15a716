/**
 * Art. 9(4): plug-in refusal hooks. After the configured rules, each hook named in `policy.hooks`
 * looks at an inbound request and answers accept, refuse (with grounds) or review. A hook is an ES
 * module whose default export (or export `screen`) is a {@link RefusalHook}.
 *
 * A hook is code the operator trusts, but its answer is still parsed strictly: a hook that throws,
 * answers anything but a valid verdict, or takes longer than its `timeoutMs`, sends the request to a
 * person (manual review) — never to acceptance. The gateway runs hooks on worker threads
 * (hook-pool.ts), so that one which computes without yielding is timed out too and never stalls the
 * event loop. Hooks should decide from the request alone: after a crash before the delivery committed,
 * the request is screened again.
 */
import { z } from 'zod';
import { RefusalGround } from '../domain/categories.js';
import { Text } from '../domain/common.js';
import type { EnvelopeOf } from '../domain/envelope.js';
import { AccordError, dispositionOf } from '../errors.js';

/** What a hook is given: a frozen copy of the verified request, and where it would be delivered. */
export interface RefusalHookInput {
  request: Readonly<EnvelopeOf<'request'>>;
  /** The authority the request goes to (after an Art. 9(2) referral, the competent one). */
  competentAuthority: string;
  receivedAt: string;
}

/** A hook's answer. */
export const HookVerdict = z.discriminatedUnion('decision', [
  z.strictObject({ decision: z.literal('accept') }),
  z.strictObject({
    decision: z.literal('refuse'),
    grounds: z.array(RefusalGround).min(1).max(5),
    /** What the requester is told in the signed notice (Art. 9(5)). */
    explanation: Text(2000),
  }),
  z.strictObject({ decision: z.literal('review'), reason: Text(500) }),
]);
export type HookVerdict = z.infer<typeof HookVerdict>;

export type RefusalHook = (input: RefusalHookInput) => HookVerdict | Promise<HookVerdict>;

/** A configured hook, ready to be asked. */
export interface LoadedHook {
  id: string;
  timeoutMs: number;
  screen: RefusalHook;
  /**
   * `screen` keeps the time limit itself (hook-pool.ts: it terminates a worker that overruns it, and
   * fails with {@link HookTimedOut}), counted from when a worker takes the request; {@link runHook}
   * adds no timer of its own.
   */
  timedBySelf?: boolean;
}

/** A hook gave no answer within its `timeoutMs` (its worker was terminated). */
export class HookTimedOut extends Error {
  override readonly name = 'HookTimedOut';
  constructor() {
    super('the hook gave no answer in time');
  }
}

/** A hook failed on its worker thread; `name` is the class name of what it threw, nothing else of it. */
export class HookFailed extends Error {
  constructor(name: string) {
    super('the hook failed');
    this.name = name;
  }
}

/** How one hook's screening ended. */
export type HookOutcome =
  | { hook: string; verdict: HookVerdict }
  /** The hook failed; `why` is for the reviewer and the log (never the hook's error text). */
  | { hook: string; failed: 'threw' | 'timed-out' | 'invalid-verdict'; why: string };

const TIMED_OUT = Symbol('timed out');

/** The class name of what a hook threw, when it looks like one (a hook may set any `name`). */
function errorName(err: unknown): string {
  const name = err instanceof Error ? err.name : typeof err;
  return /^[A-Za-z_$][\w$]{0,63}$/.test(name) ? name : 'Error';
}

function timedOut(hook: LoadedHook): HookOutcome {
  return {
    hook: hook.id,
    failed: 'timed-out',
    why: `hook ${hook.id} gave no answer within ${hook.timeoutMs} ms`,
  };
}

/**
 * Run one hook with its time limit. Never throws, but for an outage (`infra.unavailable`: the hook
 * workers are closing), so that the request is tried again rather than sent to review.
 */
export async function runHook(hook: LoadedHook, input: RefusalHookInput): Promise<HookOutcome> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = hook.timedBySelf
    ? undefined
    : new Promise<typeof TIMED_OUT>((resolve) => {
        timer = setTimeout(() => resolve(TIMED_OUT), hook.timeoutMs);
      });
  try {
    const call = Promise.resolve().then(() => hook.screen(input));
    const answer = await (timeout ? Promise.race([call, timeout]) : call);
    if (answer === TIMED_OUT) return timedOut(hook);
    const parsed = HookVerdict.safeParse(answer);
    if (!parsed.success) {
      return { hook: hook.id, failed: 'invalid-verdict', why: `hook ${hook.id} answered an invalid verdict` };
    }
    return { hook: hook.id, verdict: parsed.data };
  } catch (err) {
    if (err instanceof HookTimedOut) return timedOut(hook);
    if (err instanceof AccordError && dispositionOf(err.code) === 'retry-after') throw err;
    // The error's text may quote the request: only its class name is kept.
    return { hook: hook.id, failed: 'threw', why: `hook ${hook.id} failed (${errorName(err)})` };
  } finally {
    clearTimeout(timer);
  }
}

/** A deep-frozen copy, so a hook can neither change the request nor keep a handle on the pipeline's. */
export function frozenCopy<T>(value: T): T {
  const copy = structuredClone(value);
  const freeze = (o: unknown): void => {
    if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
      Object.freeze(o);
      for (const v of Object.values(o)) freeze(v);
    }
  };
  freeze(copy);
  return copy;
}
