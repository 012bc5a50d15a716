/**
 * Art. 9(4) refusal hooks on worker threads (src/policy/hook-pool.ts): a hook never runs on the
 * gateway's event loop, one that overruns its time limit is timed out even when it never yields and
 * its worker is replaced, and the workers are reused from one request to the next.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import type { RefusalHookEntry } from '../../src/config.js';
import { startHooks, type Hooks } from '../../src/policy/hook-pool.js';
import { screenRequest, type Screening } from '../../src/policy/screening.js';
import { ROOT } from '../helpers/harness.js';
import { T0, requestEnvelope } from '../helpers/envelopes.js';
import { expectCode } from '../helpers/expect-code.js';

const fixture = (name: string) => join(ROOT, 'test', 'fixtures', 'hooks', `${name}.mjs`);
const entry = (id: string, name: string, timeoutMs = 2000): RefusalHookEntry => ({
  id,
  module: fixture(name),
  timeoutMs,
});
const base = { rules: [], suspensions: [], now: T0 };

/** Screen a request with this summary; the reasons of a review, or the outcome. */
async function screen(hooks: Hooks, summary: string): Promise<Screening> {
  return screenRequest(requestEnvelope({ summary }), 'kz-mia', base, hooks.hooks);
}

const threadOf = (s: Screening): number => {
  expect(s.outcome).to.equal('review');
  const why = s.outcome === 'review' ? s.reasons[0]!.why : '';
  expect(why).to.match(/^thread \d+$/);
  return Number(why.split(' ')[1]);
};

describe('policy/hook-pool: refusal hooks on worker threads', function () {
  this.timeout(30_000);

  it('runs a hook off the event loop, on a worker reused from one request to the next', async () => {
    const hooks = await startHooks([entry('whoami', 'whoami')], { workers: 1 });
    try {
      const first = threadOf(await screen(hooks, 'Who?'));
      const second = threadOf(await screen(hooks, 'Who again?'));
      expect(first).not.to.equal(threadId);
      expect(second).to.equal(first);
    } finally {
      await hooks.close();
    }
  });

  it('times out a hook that never answers, and replaces its worker with a fresh one', async () => {
    const hooks = await startHooks([entry('whoami', 'whoami', 100)], { workers: 1 });
    try {
      const before = threadOf(await screen(hooks, 'Who?'));
      const hung = await screen(hooks, 'HANG');
      expect(hung).to.deep.equal({
        outcome: 'review',
        reasons: [{ by: 'hook whoami', why: 'hook whoami gave no answer within 100 ms' }],
      });
      const after = threadOf(await screen(hooks, 'Who now?'));
      expect(after).not.to.equal(before);
    } finally {
      await hooks.close();
    }
  });

  it('times out a hook that computes without yielding, while the event loop runs on', async () => {
    const hooks = await startHooks([entry('busy', 'busy', 50)]);
    try {
      // A timer due before the hook's time limit fires before the screening ends: the loop was free.
      const order: string[] = [];
      const timer = new Promise<void>((resolve) =>
        setTimeout(() => {
          order.push('timer');
          resolve();
        }, 20),
      );
      const screening = await screen(hooks, 'BUSY').finally(() => order.push('screening'));
      await timer;
      expect(screening).to.deep.equal({
        outcome: 'review',
        reasons: [{ by: 'hook busy', why: 'hook busy gave no answer within 50 ms' }],
      });
      expect(order).to.deep.equal(['timer', 'screening']);
    } finally {
      await hooks.close();
    }
  });

  it('keeps only the class name of what a hook threw, and parses its answer strictly', async () => {
    const hooks = await startHooks([entry('throws', 'throws'), entry('invalid', 'invalid')]);
    try {
      const threw = await screen(hooks, 'THROW Novak Jan');
      expect(threw).to.deep.equal({
        outcome: 'review',
        reasons: [{ by: 'hook throws', why: 'hook throws failed (TypeError)' }],
      });
      const invalid = await screen(hooks, 'MAYBE');
      expect(invalid).to.deep.equal({
        outcome: 'review',
        reasons: [{ by: 'hook invalid', why: 'hook invalid answered an invalid verdict' }],
      });
      expect(await screen(hooks, 'Fine')).to.deep.equal({ outcome: 'accept' });
    } finally {
      await hooks.close();
    }
  });

  it('gives the hook a frozen request: a hook that changes it fails', async () => {
    const hooks = await startHooks([entry('mutates', 'mutates')]);
    try {
      expect(await screen(hooks, 'MUTATE')).to.deep.equal({
        outcome: 'review',
        reasons: [{ by: 'hook mutates', why: 'hook mutates failed (TypeError)' }],
      });
    } finally {
      await hooks.close();
    }
  });

  it('refuses to start with a module that exports no hook function, naming the config path', async () => {
    await expectCode(
      () => startHooks([entry('ok', 'whoami'), entry('bad', 'no-function')]),
      'config.invalid',
      'policy.hooks.1.module',
    );
  });

  it('once closed, asks nothing more: the request is retried (infra.unavailable), not sent to review', async () => {
    const hooks = await startHooks([entry('whoami', 'whoami')]);
    await hooks.close();
    await expectCode(() => screen(hooks, 'Who?'), 'infra.unavailable');
  });
});
