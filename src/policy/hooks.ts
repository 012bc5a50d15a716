/**
 * Art. 9(4): plug-in refusal hooks. After the configured rules, each hook named in `policy.hooks`
 * looks at an inbound request and answers accept, refuse (with grounds) or review. A hook is an ES
 * module whose default export (or export `screen`) is a {@link RefusalHook}.
 *
 * A hook is code the operator trusts, but its answer is still parsed strictly: a hook that throws,
 * answers anything but a valid verdict, or takes longer than its `timeoutMs`, sends the request to a
 * person (manual review) — never to acceptance. Hooks should decide from the request alone: after a
 * crash before the delivery committed, the request is screened again.
 */
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import type { RefusalHookEntry } from '../config.js';
import { RefusalGround } from '../domain/categories.js';
import { Text } from '../domain/common.js';
import type { EnvelopeOf } from '../domain/envelope.js';
import { AccordError } from '../errors.js';

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

export interface LoadedHook {
  id: string;
  timeoutMs: number;
  screen: RefusalHook;
}

/** Import each configured hook module; a module without a hook function stops the gateway's start. */
export async function loadHooks(entries: readonly RefusalHookEntry[]): Promise<LoadedHook[]> {
  const hooks: LoadedHook[] = [];
  for (const [i, e] of entries.entries()) {
    let mod: { default?: unknown; screen?: unknown };
    try {
      mod = (await import(pathToFileURL(e.module).href)) as typeof mod;
    } catch (err) {
      throw new AccordError(
        'config.invalid',
        `policy.hooks.${i}.module: cannot load ${e.module} (${(err as Error).message})`,
        { path: `policy.hooks.${i}.module` },
      );
    }
    const screen = typeof mod.default === 'function' ? mod.default : mod.screen;
    if (typeof screen !== 'function') {
      throw new AccordError(
        'config.invalid',
        `policy.hooks.${i}.module: ${e.module} exports no hook function (default or "screen")`,
        { path: `policy.hooks.${i}.module` },
      );
    }
    hooks.push({ id: e.id, timeoutMs: e.timeoutMs, screen: screen as RefusalHook });
  }
  return hooks;
}

/** How one hook's screening ended. */
export type HookOutcome =
  | { hook: string; verdict: HookVerdict }
  /** The hook failed; `why` is for the reviewer and the log (never the hook's error text). */
  | { hook: string; failed: 'threw' | 'timed-out' | 'invalid-verdict'; why: string };

/** Run one hook with its time limit. Never throws. */
export async function runHook(hook: LoadedHook, input: RefusalHookInput): Promise<HookOutcome> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), hook.timeoutMs);
  });
  try {
    const answer = await Promise.race([Promise.resolve().then(() => hook.screen(input)), timeout]);
    if (answer === 'timeout') {
      return {
        hook: hook.id,
        failed: 'timed-out',
        why: `hook ${hook.id} gave no answer within ${hook.timeoutMs} ms`,
      };
    }
    const parsed = HookVerdict.safeParse(answer);
    if (!parsed.success) {
      return { hook: hook.id, failed: 'invalid-verdict', why: `hook ${hook.id} answered an invalid verdict` };
    }
    return { hook: hook.id, verdict: parsed.data };
  } catch (err) {
    // The error's text may quote the request; only its class name is kept.
    const name = err instanceof Error ? err.name : typeof err;
    return { hook: hook.id, failed: 'threw', why: `hook ${hook.id} failed (${name})` };
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
