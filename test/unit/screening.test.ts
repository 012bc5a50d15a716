/**
 * The Art. 9(4)/17 screening order of an inbound request, row by row, as a pure decision; and the
 * loop that asks the hooks (real hook functions, with their time limits).
 */
import { expect } from 'chai';
import type { RefusalRule } from '../../src/config.js';
import type { HookOutcome, LoadedHook } from '../../src/policy/hooks.js';
import { screenRequest, screeningStep, type ScreeningFacts } from '../../src/policy/screening.js';
import type { SuspensionEntry } from '../../src/policy/suspension.js';
import { T0, requestEnvelope } from '../helpers/envelopes.js';

const DAY = 86_400_000;
const ago = (ms: number) => new Date(T0.getTime() - ms).toISOString();

const refuseForgery: RefusalRule = {
  id: 'no-forgery',
  when: { crimeCategories: ['forgery'] },
  decision: 'refuse',
  grounds: ['national-legislation'],
  explanation: 'Not under our law.',
};
const reviewForgery: RefusalRule = {
  id: 'look-at-forgery',
  when: { crimeCategories: ['forgery'] },
  decision: 'review',
  explanation: 'A person decides on forgery requests.',
};
const suspendAll: SuspensionEntry = {
  id: '00000000-0000-8000-8000-000000000001',
  party: 'KZ',
  action: 'suspend',
  scope: 'all',
  effectiveAt: ago(DAY),
};

const accept = (hook: string): HookOutcome => ({ hook, verdict: { decision: 'accept' } });
const facts = (over: Partial<ScreeningFacts> = {}): ScreeningFacts => ({
  rules: [],
  suspensions: [],
  now: T0,
  hookCount: 0,
  answers: [],
  ...over,
});

describe('policy/screening: the Art. 9(4)/17 order, as a pure step', () => {
  const request = requestEnvelope();

  it('accepts a request no rule, suspension or hook objects to', () => {
    expect(screeningStep(request, facts())).to.deep.equal({ outcome: 'accept' });
  });

  it('refuses a request a configured rule refuses, naming the rule (Art. 9(4))', () => {
    expect(screeningStep(request, facts({ rules: [refuseForgery] }))).to.deep.equal({
      outcome: 'refuse',
      decidedBy: { kind: 'rule', ref: 'no-forgery' },
      grounds: ['national-legislation'],
      explanation: 'Not under our law.',
    });
  });

  it('lets a refusing rule decide before the suspension', () => {
    const step = screeningStep(request, facts({ rules: [refuseForgery], suspensions: [suspendAll] }));
    expect(step).to.deep.include({ decidedBy: { kind: 'rule', ref: 'no-forgery' } });
  });

  it('refuses a request in a suspended scope (Art. 17), on important interests', () => {
    const step = screeningStep(request, facts({ suspensions: [suspendAll] }));
    expect(step).to.deep.include({
      outcome: 'refuse',
      decidedBy: { kind: 'rule', ref: 'art-17-suspension' },
      grounds: ['important-interests'],
    });
  });

  it('refuses a request in a suspended scope before a reviewing rule sends it to review (Art. 17)', () => {
    const step = screeningStep(request, facts({ rules: [reviewForgery], suspensions: [suspendAll] }));
    expect(step).to.deep.include({
      outcome: 'refuse',
      decidedBy: { kind: 'rule', ref: 'art-17-suspension' },
    });
  });

  it('does not refuse under a suspension that is not yet in force, or whose effective time is unknown (Art. 17)', () => {
    const later = { ...suspendAll, effectiveAt: new Date(T0.getTime() + DAY).toISOString() };
    const unknown = { id: suspendAll.id, party: 'KZ', action: 'suspend' as const, scope: 'all' as const };
    expect(screeningStep(request, facts({ suspensions: [later] }))).to.deep.equal({ outcome: 'accept' });
    expect(screeningStep(request, facts({ suspensions: [unknown] }))).to.deep.equal({ outcome: 'accept' });
  });

  it('does not refuse a request outside the suspended crime categories, nor after a resume in force (Art. 17)', () => {
    const drugs: SuspensionEntry = { ...suspendAll, scope: { crimeCategories: ['drug-trafficking'] } };
    const resumed: SuspensionEntry = {
      ...suspendAll,
      id: '00000000-0000-8000-8000-000000000002',
      action: 'resume',
      effectiveAt: ago(DAY / 2),
    };
    expect(screeningStep(request, facts({ suspensions: [drugs] }))).to.deep.equal({ outcome: 'accept' });
    expect(screeningStep(request, facts({ suspensions: [suspendAll, resumed] }))).to.deep.equal({
      outcome: 'accept',
    });
  });

  it('sends a request a reviewing rule matches to review, before any hook is asked (Art. 9(4))', () => {
    expect(screeningStep(request, facts({ rules: [reviewForgery], hookCount: 2 }))).to.deep.equal({
      outcome: 'review',
      reasons: [{ by: 'rule look-at-forgery', why: 'A person decides on forgery requests.' }],
    });
  });

  it('lets only the first matching rule count: a reviewing rule listed first sends to review', () => {
    const step = screeningStep(request, facts({ rules: [reviewForgery, refuseForgery] }));
    expect(step).to.have.property('outcome', 'review');
  });

  it('asks the hooks in order while they accept, then accepts', () => {
    expect(screeningStep(request, facts({ hookCount: 2 }))).to.deep.equal({ outcome: 'ask-hook', hook: 0 });
    expect(screeningStep(request, facts({ hookCount: 2, answers: [accept('a')] }))).to.deep.equal({
      outcome: 'ask-hook',
      hook: 1,
    });
    expect(
      screeningStep(request, facts({ hookCount: 2, answers: [accept('a'), accept('b')] })),
    ).to.deep.equal({ outcome: 'accept' });
  });

  it('lets the first hook that refuses decide, with its grounds (Art. 9(4))', () => {
    const refused: HookOutcome = {
      hook: 'b',
      verdict: { decision: 'refuse', grounds: ['security'], explanation: 'No.' },
    };
    expect(screeningStep(request, facts({ hookCount: 3, answers: [accept('a'), refused] }))).to.deep.equal({
      outcome: 'refuse',
      decidedBy: { kind: 'hook', ref: 'b' },
      grounds: ['security'],
      explanation: 'No.',
    });
  });

  it('sends a request to review when a hook asks for it', () => {
    const review: HookOutcome = { hook: 'a', verdict: { decision: 'review', reason: 'Unclear.' } };
    expect(screeningStep(request, facts({ hookCount: 2, answers: [review] }))).to.deep.equal({
      outcome: 'review',
      reasons: [{ by: 'hook a', why: 'Unclear.' }],
    });
  });

  it('sends a request to review, never to acceptance, when a hook failed', () => {
    const failed: HookOutcome = { hook: 'a', failed: 'timed-out', why: 'hook a gave no answer' };
    expect(screeningStep(request, facts({ hookCount: 1, answers: [failed] }))).to.deep.equal({
      outcome: 'review',
      reasons: [{ by: 'hook a', why: 'hook a gave no answer' }],
    });
  });
});

describe('policy/screening: asking the hooks', () => {
  const request = requestEnvelope();
  const hook = (id: string, screen: LoadedHook['screen'], timeoutMs = 1000): LoadedHook => ({
    id,
    timeoutMs,
    screen,
  });
  const base = { rules: [], suspensions: [], now: T0 };

  it('stops at the first hook that does not accept; later hooks are not run', async () => {
    const asked: string[] = [];
    const hooks = [
      hook('a', () => (asked.push('a'), { decision: 'accept' })),
      hook('b', () => (asked.push('b'), { decision: 'review', reason: 'Look.' })),
      hook('c', () => (asked.push('c'), { decision: 'accept' })),
    ];
    const screening = await screenRequest(request, 'kz-mia', base, hooks);
    expect(screening).to.deep.equal({ outcome: 'review', reasons: [{ by: 'hook b', why: 'Look.' }] });
    expect(asked).to.deep.equal(['a', 'b']);
  });

  it('runs no hook when a rule decided', async () => {
    let asked = false;
    const hooks = [hook('a', () => ((asked = true), { decision: 'accept' }))];
    await screenRequest(request, 'kz-mia', { ...base, rules: [refuseForgery] }, hooks);
    expect(asked).to.equal(false);
  });

  it('sends to review a hook that throws, times out or answers an invalid verdict, and reports it', async () => {
    const failures: string[] = [];
    for (const h of [
      hook('throws', () => {
        throw new Error('the request of Jan Novak');
      }),
      hook('slow', () => new Promise(() => undefined), 20),
      hook('invalid', () => ({ decision: 'maybe' }) as never),
    ]) {
      const s = await screenRequest(request, 'kz-mia', base, [h], (f) => failures.push(f.failed));
      expect(s).to.have.property('outcome', 'review');
      // The hook's error text may quote the request: it never reaches the reasons.
      expect(JSON.stringify(s)).not.to.include('Novak');
    }
    expect(failures).to.deep.equal(['threw', 'timed-out', 'invalid-verdict']);
  });

  it('gives the hooks a frozen copy of the request and where it goes', async () => {
    let seen: unknown;
    await screenRequest(request, 'kz-ncb', base, [
      hook('a', (input) => {
        seen = input;
        return { decision: 'accept' };
      }),
    ]);
    expect(seen).to.deep.include({ competentAuthority: 'kz-ncb', receivedAt: T0.toISOString() });
    expect(Object.isFrozen((seen as { request: object }).request)).to.equal(true);
    expect((seen as { request: object }).request).not.to.equal(request);
  });
});
