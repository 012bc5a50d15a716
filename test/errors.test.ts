import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AccordError, ERROR_CODES, asAccordError } from '../src/errors.js';

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
