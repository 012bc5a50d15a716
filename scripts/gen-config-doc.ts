/**
 * docs/configuration.md, the configuration reference, generated from the config schema: every key
 * with its type, whether it is required, its default and limits (from the JSON Schema of
 * `ConfigSchema`) and its meaning (from the doc comment on the key in src/config.ts, read with the
 * TypeScript compiler API). `npm run schemas` writes it; a test fails when it is stale.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { z } from 'zod';
import { ENVIRONMENT } from '../src/environment.js';
import { ConfigSchema } from '../src/config.js';

/** The parts of a JSON Schema node this page reads. */
interface JsonObject {
  type?: string;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonObject[];
  oneOf?: JsonObject[];
  items?: JsonObject;
  properties?: Record<string, JsonObject>;
  required?: string[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  format?: string;
}

/** The doc comment of each key of the config schema, by path (`amqp.prefetch`, `authorities[].id`). */
export function configComments(root: string): Map<string, string> {
  const files = ['src/config.ts', 'src/domain/messages.ts'].map((f) =>
    ts.createSourceFile(f, readFileSync(join(root, f), 'utf8'), ts.ScriptTarget.ES2022, true),
  );
  const decls = new Map<string, ts.Expression>();
  for (const sf of files) {
    for (const st of sf.statements) {
      if (!ts.isVariableStatement(st)) continue;
      for (const d of st.declarationList.declarations) {
        if (ts.isIdentifier(d.name) && d.initializer) decls.set(d.name.text, d.initializer);
      }
    }
  }
  const docs = new Map<string, string>();
  const seen = new Set<ts.Node>();
  const walk = (expr: ts.Expression, path: string): void => {
    if (seen.has(expr)) return;
    seen.add(expr);
    if (ts.isIdentifier(expr)) {
      const target = decls.get(expr.text);
      if (target) walk(target, path);
      return;
    }
    if (!ts.isCallExpression(expr) || !ts.isPropertyAccessExpression(expr.expression)) return;
    const callee = expr.expression;
    const onZ = ts.isIdentifier(callee.expression) && callee.expression.text === 'z';
    const arg = expr.arguments[0];
    if (onZ && (callee.name.text === 'strictObject' || callee.name.text === 'object') && arg) {
      if (!ts.isObjectLiteralExpression(arg)) return;
      for (const p of arg.properties) {
        if (!ts.isPropertyAssignment(p) || !(ts.isIdentifier(p.name) || ts.isStringLiteral(p.name))) continue;
        const key = path === '' ? p.name.text : `${path}.${p.name.text}`;
        const comment = ts
          .getJSDocCommentsAndTags(p)
          .filter(ts.isJSDoc)
          .map((d) => ts.getTextOfJSDocComment(d.comment) ?? '')
          .join(' ')
          .replace(/\s+/g, ' ')
          .trim();
        if (comment) docs.set(key, comment);
        walk(p.initializer, key);
      }
      return;
    }
    if (onZ && callee.name.text === 'array' && arg) return walk(arg, `${path}[]`);
    // A method on a schema (.default, .optional, .refine, …): the schema is what it is called on.
    walk(callee.expression, path);
  };
  const config = decls.get('ConfigSchema');
  if (!config) throw new Error('ConfigSchema not found in src/config.ts');
  walk(config, '');
  return docs;
}

interface Row {
  path: string;
  schema: JsonObject;
  required: boolean;
}

/** Every key of the JSON Schema, depth first, with array items as `[]`. */
function rows(schema: JsonObject, path: string, required: boolean, out: Row[]): Row[] {
  if (path !== '') out.push({ path, schema, required });
  const node = schema.type === 'array' ? schema.items : schema;
  const base = schema.type === 'array' ? `${path}[]` : path;
  if (node?.type === 'object' && node.properties) {
    const req = new Set<string>(node.required ?? []);
    for (const [k, v] of Object.entries(node.properties)) {
      rows(v, base === '' ? k : `${base}.${k}`, req.has(k), out);
    }
  }
  return out;
}

const code = (v: unknown) => `\`${JSON.stringify(v)}\``;

function typeOf(s: JsonObject): string {
  if (s.enum) return s.enum.map(code).join(' | ');
  if (s.const !== undefined) return code(s.const);
  const alternatives = s.anyOf ?? s.oneOf;
  if (alternatives) return alternatives.map(typeOf).join(' | ');
  if (s.type === 'array' && s.items) return `list of ${typeOf(s.items)}`;
  return String(s.type ?? 'any');
}

function limits(s: JsonObject): string {
  const parts: string[] = [];
  if (s.minimum !== undefined) parts.push(`≥ ${s.minimum}`);
  if (s.maximum !== undefined) parts.push(`≤ ${s.maximum}`);
  if (s.minLength !== undefined && s.minLength > 1) parts.push(`length ≥ ${s.minLength}`);
  if (s.maxLength !== undefined) parts.push(`length ≤ ${s.maxLength}`);
  if (s.minItems !== undefined && s.minItems > 0) parts.push(`≥ ${s.minItems} items`);
  if (s.maxItems !== undefined) parts.push(`≤ ${s.maxItems} items`);
  if (s.pattern !== undefined) parts.push(`pattern \`${s.pattern}\``);
  if (s.format !== undefined) parts.push(`format ${s.format}`);
  return parts.join(', ');
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function renderConfigDoc(root: string): string {
  const json = z.toJSONSchema(ConfigSchema, { target: 'draft-2020-12', io: 'input' }) as JsonObject;
  const comments = configComments(root);
  const lines = [
    '# Configuration reference',
    '',
    'Generated from the config schema (`ConfigSchema` in `src/config.ts`) by `npm run schemas`; do not edit.',
    'One JSON file per gateway (`config/cz.json`, `config/kz.json` are the examples); `accord config check FILE`',
    'prints every problem as `path: message` and exits 2. Any string may be `${NAME}` or `${NAME:-default}`,',
    'replaced from the environment before validation. Relative file paths are relative to the config file.',
    'Unknown keys are refused. `[]` marks the items of a list. The JSON Schema is `docs/schemas/config.schema.json`.',
    '',
    '## Environment variables',
    '',
    'Every variable Accord reads itself (`src/environment.ts`). Besides these, a config may name its own:',
    '`admin.tokenEnv`, `keys.passphraseEnv`, and any `${NAME}` in a string.',
    '',
    '| variable | read by | meaning |',
    '| --- | --- | --- |',
    ...ENVIRONMENT.map((v) => `| \`${v.name}\` | ${cell(v.readBy)} | ${cell(v.meaning)} |`),
    '',
  ];
  const all = rows(json, '', true, []);
  const sections = [...new Set(all.map((r) => r.path.split(/[.[]/)[0]!))];
  for (const section of sections) {
    lines.push(`## \`${section}\``, '');
    const top = comments.get(section);
    if (top) lines.push(top, '');
    lines.push(
      '| key | type | required | default | limits | meaning |',
      '| --- | --- | --- | --- | --- | --- |',
    );
    for (const r of all.filter(
      (x) => x.path === section || x.path.startsWith(`${section}.`) || x.path.startsWith(`${section}[]`),
    )) {
      const doc = (comments.get(r.path) ?? '').replace(/@defaultValue\s+\S+(\s+\S+)?/g, '').trim();
      const dflt = r.schema.default === undefined ? '' : code(r.schema.default);
      lines.push(
        `| \`${r.path}\` | ${cell(typeOf(r.schema))} | ${r.required ? 'yes' : ''} | ${cell(dflt.length > 80 ? '(see schema)' : dflt)} | ${cell(limits(r.schema))} | ${cell(doc)} |`,
      );
    }
    lines.push('');
  }
  return `${lines.join('\n')}`;
}
