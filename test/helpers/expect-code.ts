/**
 * One way for a test to say "this is refused, with this code (and field)": Accord's failures carry a
 * stable code (src/errors.ts), and tests assert on it, never on message text.
 */
import { expect } from 'chai';
import { AccordError, type ErrorCode } from '../../src/errors.js';

/**
 * The AccordError that `subject` fails with — a promise, or a function (sync or async) called here.
 * Fails the test when it succeeds, throws anything but an AccordError, or fails with another `code`
 * (one, or any of several; any code when absent) or another `path`.
 */
export async function expectCode(
  subject: Promise<unknown> | (() => unknown),
  code?: ErrorCode | readonly ErrorCode[],
  path?: string,
): Promise<AccordError> {
  let result: unknown;
  try {
    result = await (typeof subject === 'function' ? subject() : subject);
  } catch (err) {
    expect(err, 'the thrown value').to.be.instanceOf(AccordError);
    const e = err as AccordError;
    if (code !== undefined) {
      const codes: readonly ErrorCode[] = typeof code === 'string' ? [code] : code;
      expect(codes, `the code (message: ${e.message})`).to.include(e.code);
    }
    if (path !== undefined) expect(e.path, `the path of ${e.code}`).to.equal(path);
    return e;
  }
  return expect.fail(
    `expected a refusal${code === undefined ? '' : ` with ${String(code)}`}, but it succeeded (${typeof result})`,
  );
}

/**
 * The error of a decision that rejects (`{ action: 'reject', error }`; or parks, with `action`); fails
 * the test when the decision is anything else, or carries another `code` or `path`.
 */
export async function expectRejection(
  decision: { action: string; error?: unknown },
  code: ErrorCode,
  path?: string,
  action: 'reject' | 'park' = 'reject',
): Promise<AccordError> {
  expect(decision.action, `the decision (${JSON.stringify(decision).slice(0, 300)})`).to.equal(action);
  const { error } = decision;
  expect(error, 'the decision’s error').to.be.instanceOf(AccordError);
  return expectCode(
    () => {
      throw error as AccordError;
    },
    code,
    path,
  );
}
