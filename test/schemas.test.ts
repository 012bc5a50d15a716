import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SCHEMA_BASE_URI, generateSchemas, renderSchema } from '../scripts/gen-schemas.js';
import { SUBMITTABLE } from '../src/domain/messages.js';
import { formatPath, validate } from '../src/domain/parse.js';
import { Submission } from '../src/domain/submission.js';
import type { AccordError } from '../src/errors.js';
import { expectCode } from './helpers/expect-code.js';

/** dist/test → the repository root. */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCHEMA_DIR = join(ROOT, 'docs', 'schemas');
const EXAMPLE_DIR = join(ROOT, 'examples', 'messages');
const STALE = 'docs/schemas is stale: run npm run schemas';

const schemas = generateSchemas();
const kinds = Object.keys(SUBMITTABLE);

const exampleFiles = readdirSync(EXAMPLE_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();
const readExample = (file: string): Record<string, any> =>
  JSON.parse(readFileSync(join(EXAMPLE_DIR, file), 'utf8')) as Record<string, any>;

/** A fresh copy of the example of one kind, to mutate. */
const example = (kind: string): Record<string, any> => readExample(`${kind}.json`);

/** The AccordError `validate` throws for a submission; fails the test when the submission is accepted. */
function rejection(submission: unknown): Promise<AccordError> {
  return expectCode(() => validate(Submission, submission, 'submission'));
}

describe('docs/schemas', () => {
  it('publishes the submission, export, envelope, status event, config and one body schema per submittable kind', () => {
    expect(Object.keys(schemas).sort()).to.deep.equal(
      [
        'submission.schema.json',
        'export.schema.json',
        'decision.schema.json',
        'destruction-confirmed.schema.json',
        'correction-confirmed.schema.json',
        'destroy-order.schema.json',
        'envelope.schema.json',
        'status-event.schema.json',
        'config.schema.json',
        ...kinds.map((k) => `body.${k}.schema.json`),
      ].sort(),
    );
  });

  it('gives every schema a JSON Schema 2020-12 dialect, an $id named after its file and a title', () => {
    for (const [file, schema] of Object.entries(schemas)) {
      expect(schema, file).to.include({
        $schema: 'https://json-schema.org/draft/2020-12/schema',
        $id: `${SCHEMA_BASE_URI}${file}`,
      });
      expect(schema, file).to.have.property('title').that.is.a('string').and.not.empty;
    }
  });

  for (const [file, schema] of Object.entries(schemas)) {
    it(`holds ${file} exactly as the zod schemas generate it`, () => {
      const path = join(SCHEMA_DIR, file);
      const actual = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
      if (actual !== renderSchema(schema)) expect.fail(STALE);
    });
  }

  it('holds no file that the generator does not make', () => {
    const extra = readdirSync(SCHEMA_DIR).filter((f) => !(f in schemas));
    expect(extra, `docs/schemas has files the generator does not make (${STALE})`).to.deep.equal([]);
  });

  it('lets a config file hold ${NAME} references in its strings, as the config loader does', () => {
    const config = schemas['config.schema.json'] as Record<string, any>;
    expect(config.$defs.envReference.pattern).to.be.a('string');
    expect(config.properties.amqp.properties.url.anyOf).to.deep.include({ $ref: '#/$defs/envReference' });
    expect(config.properties.amqp.properties.prefetch).not.to.have.property('anyOf');
  });
});

describe('examples/messages', () => {
  for (const file of exampleFiles) {
    it(`${file} is a valid submission`, () => {
      const result = Submission.safeParse(readExample(file));
      const issues = result.success
        ? []
        : result.error.issues.map((i) => `${formatPath(i.path) || '(root)'}: ${i.message}`);
      expect(issues, `${file} does not match the Submission schema`).to.deep.equal([]);
    });
  }

  it('holds exactly one example per submittable kind, named <kind>.json', () => {
    const byKind = new Map<string, string[]>();
    for (const file of exampleFiles) {
      const kind = String(readExample(file).kind);
      byKind.set(kind, [...(byKind.get(kind) ?? []), file]);
    }
    for (const kind of kinds) {
      expect(byKind.get(kind), `examples of kind ${kind}`).to.deep.equal([`${kind}.json`]);
    }
    expect([...byKind.keys()].sort()).to.deep.equal([...kinds].sort());
  });
});

describe('domain/submission', () => {
  /**
   * Where an unknown key is slipped in: the example's kind, the object that gets it, the reported path —
   * the object's own, for the key is input too (it may be a name) and is never repeated.
   */
  const unknownKeyCases: [where: string, kind: string, at: (string | number)[], path: string][] = [
    ['at the top level', 'request', [], ''],
    ['inside body', 'request', ['body'], 'body'],
    ['inside to', 'request', ['to'], 'to'],
    ['inside handling', 'request', ['handling'], 'handling'],
    [
      'inside a travel document of a travel-document message',
      'travel-document',
      ['body', 'documents', 0],
      'body.documents.0',
    ],
    [
      'inside a travel document asked about in a request',
      'request',
      ['body', 'travelDocuments', 0],
      'body.travelDocuments.0',
    ],
    [
      'inside a travel document of a reply',
      'reply',
      ['body', 'travelDocuments', 0],
      'body.travelDocuments.0',
    ],
    ['inside the person of a person search', 'person-search', ['body', 'person'], 'body.person'],
  ];

  for (const [where, kind, at, path] of unknownKeyCases) {
    it(`rejects an unknown key ${where} with schema.invalid at ${path || '(root)'}, without naming the key`, async () => {
      const submission = example(kind);
      let target: any = submission;
      for (const key of at) target = target[key];
      target.surprise = 'x';
      const err = await rejection(submission);
      expect(err.code).to.equal('schema.invalid');
      expect(err.path).to.equal(path);
      expect(err.message).to.include('unknown key').and.not.to.include('surprise');
    });
  }

  it('rejects a status in a request’s document query: the status is what the requester asks for', async () => {
    const submission = example('request');
    submission.body.travelDocuments[0].status = 'lost';
    // `status` is not a key of a query: reported, like any unknown key, at the object that holds it.
    expect(await rejection(submission)).to.include({
      code: 'schema.invalid',
      path: 'body.travelDocuments.0',
    });
  });
});

describe('domain/messages: travel documents (Art. 6)', () => {
  for (const field of ['number', 'type', 'status'] as const) {
    it(`rejects a travel document without its ${field} (Art. 6(2)), naming the missing field`, async () => {
      const submission = example('travel-document');
      delete submission.body.documents[1][field];
      expect(await rejection(submission)).to.include({
        code: 'schema.invalid',
        path: `body.documents.1.${field}`,
      });
    });
  }

  it('accepts each status of Art. 6(1): lost, stolen, stolen-blank, revoked', () => {
    for (const status of ['lost', 'stolen', 'stolen-blank', 'revoked']) {
      const submission = example('travel-document');
      submission.body.documents[0].status = status;
      expect(Submission.safeParse(submission).success, status).to.equal(true);
    }
  });

  it('rejects any other status, without echoing the rejected value', async () => {
    for (const status of ['forged', 'found', 'LOST', '']) {
      const submission = example('travel-document');
      submission.body.documents[2].status = status;
      const err = await rejection(submission);
      expect(err, JSON.stringify(status)).to.include({
        code: 'schema.invalid',
        path: 'body.documents.2.status',
      });
      if (status !== '') expect(err.message).not.to.include(status);
    }
  });
});
