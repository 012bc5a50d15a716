import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AccordError,
  ERROR_CODES,
  RETRY_DELAY_MS,
  asAccordError,
  dispositionOf,
  dispositionOfFailure,
  exitCodeOf,
  isConnectionFailure,
  type ErrorCode,
} from '../src/errors.js';

/** dist/test → the repository root. */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DOC = readFileSync(join(ROOT, 'docs', 'errors.md'), 'utf8');
const CODES = Object.keys(ERROR_CODES);

/** The codes in the first column of the tables in a Markdown text: backticked, like `schema.invalid`. */
function tableCodes(markdown: string): string[] {
  return markdown
    .split('\n')
    .filter((line) => line.trimStart().startsWith('|'))
    .map((line) => /^`([^`]*)`$/.exec(line.split('|')[1]?.trim() ?? '')?.[1])
    .filter((code): code is string => code !== undefined && /^[a-z]+\.[a-z_]+$/.test(code));
}

describe('docs/errors.md', () => {
  it('documents every code in ERROR_CODES', () => {
    const missing = CODES.filter((code) => !DOC.includes(`\`${code}\``));
    expect(missing, 'codes in ERROR_CODES missing from docs/errors.md').to.deep.equal([]);
  });

  it('lists no code that ERROR_CODES does not have', () => {
    const unknown = tableCodes(DOC).filter((code) => !(code in ERROR_CODES));
    expect(unknown, 'codes in docs/errors.md that ERROR_CODES does not have').to.deep.equal([]);
  });

  it('gives every code exactly one row in its table', () => {
    expect(tableCodes(DOC).sort()).to.deep.equal([...CODES].sort());
  });
});

describe('errors', () => {
  it('serialises an AccordError as code, message and path, never its cause', () => {
    const err = new AccordError('schema.invalid', 'x', { path: 'a.b', cause: new Error('secret') });
    expect(err.toJSON()).to.deep.equal({ code: 'schema.invalid', message: 'x', path: 'a.b' });
    expect(JSON.stringify(err)).not.to.include('secret');
  });

  it('uses the code’s description from ERROR_CODES when no message is given', () => {
    expect(new AccordError('envelope.expired').message).to.equal(ERROR_CODES['envelope.expired']);
  });

  it('turns any other thrown value into internal.error without its detail', () => {
    const err = asAccordError(new Error('secret'));
    expect(err.code).to.equal('internal.error');
    expect(JSON.stringify(err)).not.to.include('secret');
  });
});

describe('errors: the disposition table', () => {
  it('gives every code a disposition and an exit code', () => {
    for (const code of CODES as ErrorCode[]) {
      expect(['reject', 'park', 'retry-after', 'wait-for-key'], code).to.include(dispositionOf(code));
      expect([1, 2], code).to.include(exitCodeOf(code));
    }
  });

  it('rejects what is wrong with the input itself: schema, authority, policy, treaty', () => {
    for (const code of [
      'input.not_json',
      'schema.invalid',
      'auth.sender_mismatch',
      'policy.onward_transfer_blocked',
      'treaty.suspended',
    ] as const) {
      expect(dispositionOf(code), code).to.equal('reject');
    }
  });

  it('parks what an admin must look at, retries outages, and waits for a valid signing key', () => {
    expect(dispositionOf('crypto.bad_signature')).to.equal('park');
    expect(dispositionOf('receipt.digest_mismatch')).to.equal('park');
    expect(dispositionOf('internal.error')).to.equal('park');
    expect(dispositionOf('infra.unavailable')).to.equal('retry-after');
    expect(dispositionOf('crypto.key_expired')).to.equal('wait-for-key');
    expect(RETRY_DELAY_MS['wait-for-key']).to.be.greaterThan(RETRY_DELAY_MS['retry-after']);
  });

  it('exits 2 for configuration and key files only, 1 for the rest: an unreachable broker or Redis included', () => {
    expect(exitCodeOf('config.invalid')).to.equal(2);
    expect(exitCodeOf('config.broker_refused')).to.equal(2);
    expect(exitCodeOf('config.tls_unverified')).to.equal(2);
    expect(exitCodeOf('keys.invalid')).to.equal(2);
    expect(exitCodeOf('infra.unavailable')).to.equal(1);
    expect(exitCodeOf('schema.invalid')).to.equal(1);
    expect(exitCodeOf('keys.thumbprint_mismatch')).to.equal(1);
  });

  it('retries a raw failure of a connection, known by its class, errno or Redis reply code', () => {
    const refused = Object.assign(new Error('connect failed'), { code: 'ECONNREFUSED' });
    const maxRetries = Object.assign(new Error('x'), { name: 'MaxRetriesPerRequestError' });
    const loading = Object.assign(new Error('LOADING Redis is loading the dataset in memory'), {
      name: 'ReplyError',
    });
    for (const err of [refused, maxRetries, loading]) {
      expect(isConnectionFailure(err), err.message).to.equal(true);
      expect(dispositionOfFailure(err, false)).to.equal('retry-after');
    }
  });

  it('parks any other raw failure, unless the connections were down when it happened', () => {
    const other = Object.assign(new Error('Connection is closed.'), { name: 'Error' });
    const wrongType = Object.assign(new Error('WRONGTYPE Operation against a key'), { name: 'ReplyError' });
    expect(dispositionOfFailure(other, false)).to.equal('park');
    expect(dispositionOfFailure(wrongType, false)).to.equal('park');
    expect(dispositionOfFailure(other, true)).to.equal('retry-after');
    expect(dispositionOfFailure(new AccordError('schema.invalid'), true)).to.equal('reject');
  });
});
