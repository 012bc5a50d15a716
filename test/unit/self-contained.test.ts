/**
 * The repository stands on its own: what README.md and docs/ point to is in the repository. A clone
 * has no `../shared`, so neither a link nor a path in backticks may lead outside, and every file path
 * they name exists (paths with placeholders such as `<party>` or `*` are patterns, not files).
 */
import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { ROOT } from '../../src/demo/config-pair.js';

const DOCS = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
const TOP = /^(?:docs|src|test|scripts|examples|config|deploy|docker|certs-example|conformance)\//;
/** Files the build or a command makes; named in the docs, absent from a clone. */
const GENERATED = /^(?:dist\/|test-output\/)|\.(?:log|png)$/;

describe('README and docs point only into the repository', () => {
  for (const doc of DOCS) {
    it(doc, () => {
      const text = readFileSync(join(ROOT, doc), 'utf8');
      const problems: string[] = [];
      for (const m of text.matchAll(/\]\(([^)\s#]+)(?:#[^)]*)?\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/.test(target)) continue; // https:, mailto:
        const path = normalize(join(dirname(doc), target));
        if (path.startsWith('..')) problems.push(`link leaves the repository: ${target}`);
        else if (!existsSync(join(ROOT, path))) problems.push(`link to a missing file: ${target}`);
      }
      for (const m of text.matchAll(/`([^`\s]+)`/g)) {
        const token = m[1]!;
        if (token.includes('../shared') || token.includes('DESIGN.md')) problems.push(`outside: ${token}`);
        const path = token.replace(/[:,;.]+$/, '').replace(/:\d+$/, '');
        if (!TOP.test(path) || /[<>*{}$]|\.\.\./.test(path) || GENERATED.test(path)) continue;
        if (!existsSync(join(ROOT, path))) problems.push(`missing: ${path}`);
      }
      if (/\.\.\/shared/.test(text)) problems.push('mentions ../shared');
      expect(problems, relative(ROOT, join(ROOT, doc))).to.deep.equal([]);
    });
  }
});
