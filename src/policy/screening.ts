/**
 * Art. 9(4), 17: the screening of an inbound request before anything of it is delivered, in order —
 *
 * 1. a configured rule that refuses it (Art. 9(4), `policy.refusalRules`, the first rule that matches);
 * 2. the Art. 17 suspension in force for one of its crime categories (refused on important interests);
 * 3. a configured rule that sends it to review (the first matching rule, when it says `review`);
 * 4. the plug-in hooks, in their configured order (`policy.hooks`, src/policy/hooks.ts).
 *
 * The first that does not accept decides: refuse (the gateway sends the signed notice at once, Art.
 * 9(5)) or review (the request waits in `accord.review.<authority>` for a person's `decision`). A hook
 * that throws, times out or answers an invalid verdict sends the request to review, never to acceptance.
 *
 * The decision is {@link screeningStep}, a pure function of the request and the facts: the rules, the
 * suspensions, the clock, how many hooks there are and what those asked so far answered. It says
 * either how the screening ends or which hook to ask next, so a table test covers every row without
 * running user code. {@link screenRequest} is the loop that asks the hooks (user code, each with its
 * time limit; the gateway's run on worker threads, hook-pool.ts) until the step decides.
 */
import type { RefusalRule } from '../config.js';
import type { RefusalGround } from '../domain/categories.js';
import type { EnvelopeOf } from '../domain/envelope.js';
import { frozenCopy, runHook, type HookOutcome, type LoadedHook } from './hooks.js';
import { matchRefusalRule } from './refusal.js';
import { suspendedBy, type SuspensionEntry } from './suspension.js';

/** The outcome of screening one inbound request. */
export type Screening =
  | { outcome: 'accept' }
  | {
      outcome: 'refuse';
      decidedBy: { kind: 'rule' | 'hook'; ref: string };
      grounds: RefusalGround[];
      explanation: string;
    }
  | {
      outcome: 'review';
      /** For the reviewer: which rule or hook sent it, and why (config text or gateway text, not data). */
      reasons: { by: string; why: string }[];
    };

/** What the screening of one request is decided from. */
export interface ScreeningFacts {
  /** Art. 9(4): the configured rules, in order. */
  rules: readonly RefusalRule[];
  /** Art. 17: every suspension notice known, with its effective time once known. */
  suspensions: readonly SuspensionEntry[];
  /** The time the request was received (a suspension in force then counts). */
  now: Date;
  /** How many hooks are configured. */
  hookCount: number;
  /** The answers of the hooks asked so far, in order (all but possibly the last accepted). */
  answers: readonly HookOutcome[];
}

/** The screening decided, or the next hook to ask (its index in the configured order). */
export type ScreeningStep = Screening | { outcome: 'ask-hook'; hook: number };

/** The Art. 17 refusal of a request in a suspended scope, as its notice tells the requester. */
function suspended(by: SuspensionEntry): Screening {
  return {
    outcome: 'refuse',
    decidedBy: { kind: 'rule', ref: 'art-17-suspension' },
    grounds: ['important-interests'],
    explanation: `Art. 17: requests in this scope are suspended by ${by.party} since ${by.effectiveAt ?? '?'} (notice ${by.id}).`,
  };
}

/** What one hook's answer decides; `undefined` when it accepts, and the next hook is asked. */
export function screeningOfHook(answer: HookOutcome): Screening | undefined {
  if ('failed' in answer) {
    return { outcome: 'review', reasons: [{ by: `hook ${answer.hook}`, why: answer.why }] };
  }
  const v = answer.verdict;
  if (v.decision === 'refuse') {
    return {
      outcome: 'refuse',
      decidedBy: { kind: 'hook', ref: answer.hook },
      grounds: v.grounds,
      explanation: v.explanation,
    };
  }
  if (v.decision === 'review') {
    return { outcome: 'review', reasons: [{ by: `hook ${answer.hook}`, why: v.reason }] };
  }
  return undefined;
}

/** The next step of screening `request` (pure): how it ends, or which hook to ask next. */
export function screeningStep(request: EnvelopeOf<'request'>, facts: ScreeningFacts): ScreeningStep {
  const rule = matchRefusalRule(facts.rules, request);
  if (rule?.decision === 'refuse' && rule.grounds) {
    const { grounds, explanation } = rule;
    return { outcome: 'refuse', decidedBy: { kind: 'rule', ref: rule.id }, grounds, explanation };
  }
  const by = suspendedBy(facts.suspensions, request.body.crimeCategories, facts.now);
  if (by) return suspended(by);
  if (rule?.decision === 'review') {
    return { outcome: 'review', reasons: [{ by: `rule ${rule.id}`, why: rule.explanation }] };
  }
  for (const answer of facts.answers) {
    const decided = screeningOfHook(answer);
    if (decided) return decided;
  }
  if (facts.answers.length < facts.hookCount) return { outcome: 'ask-hook', hook: facts.answers.length };
  return { outcome: 'accept' };
}

/**
 * Screen an inbound request: the pure steps, asking each hook in turn (user code, with its time limit)
 * until a step decides. `onHookFailed` hears of a hook that threw, timed out or answered an invalid
 * verdict (for the log; the request goes to review).
 */
export async function screenRequest(
  request: EnvelopeOf<'request'>,
  competentAuthority: string,
  facts: Omit<ScreeningFacts, 'hookCount' | 'answers'>,
  hooks: readonly LoadedHook[],
  onHookFailed: (failure: Extract<HookOutcome, { failed: string }>) => void = () => undefined,
  run: (hook: LoadedHook, input: Parameters<typeof runHook>[1]) => Promise<HookOutcome> = runHook,
): Promise<Screening> {
  const answers: HookOutcome[] = [];
  // The hooks get a frozen copy: they can neither change the request nor keep a handle on it.
  let input: Parameters<typeof runHook>[1] | undefined;
  for (;;) {
    const step = screeningStep(request, { ...facts, hookCount: hooks.length, answers });
    if (step.outcome !== 'ask-hook') return step;
    input ??= frozenCopy({ request, competentAuthority, receivedAt: facts.now.toISOString() });
    const answer = await run(hooks[step.hook]!, input);
    if ('failed' in answer) onHookFailed(answer);
    answers.push(answer);
  }
}
