/**
 * The JSON Schemas of Accord's public interface, generated from the zod schemas so that the two cannot
 * drift: what a case system publishes (a submission and its body), what it receives (the envelope inside
 * an inbox delivery, status events) and the gateway config file. `npm run schemas` writes them to
 * docs/schemas/; test/schemas.test.ts fails when the files there are stale.
 */
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { z } from 'zod';
import { ConfigSchema } from '../src/config.js';
import { renderAsyncApi } from './gen-asyncapi.js';
import { renderConfigDoc } from './gen-config-doc.js';
import { Envelope } from '../src/domain/envelope.js';
import { StatusEvent } from '../src/domain/events.js';
import { SUBMITTABLE, type SubmittableKind } from '../src/domain/messages.js';
import {
  CorrectionConfirmedSubmission,
  DecisionSubmission,
  DestructionConfirmedSubmission,
  ExportSubmission,
  Submission,
} from '../src/domain/submission.js';
import { DestroyOrderSchema } from '../src/domain/delivery.js';

/** Base of every schema's `$id`; the file name is appended. */
export const SCHEMA_BASE_URI = 'https://accord.example/schemas/';

/** What each submittable kind's body carries, with the article it serves. */
const BODY_DESCRIPTIONS: Record<SubmittableKind, string> = {
  request: 'Art. 9(1): a written (electronic) request for information or assistance.',
  reply: 'Art. 9(2): the reply to a request.',
  'travel-document': 'Art. 6: lost, stolen, stolen blank or revoked travel documents.',
  'person-search': 'Art. 7 with Art. 4(1), 4(2): a missing or otherwise searched person.',
  'further-info-request':
    'Art. 9(2): the requested authority asks for further information needed to meet a request.',
  spontaneous:
    'Art. 9(3): information given without a request, to help avert a threat or prevent or detect crime.',
  'consent-request':
    'Art. 10(1), 11(2): asks the provider for written consent to another use or an onward transfer.',
  consent: "Art. 10(1), 11(2): the provider's written consent (or its refusal), valid until a set time.",
  'directory-update':
    "Art. 13(1): the party's whole directory of competent authorities; the peer applies it once an operator approves it.",
  'suspension-notice':
    'Art. 17: suspension of the agreement in full or in part, or its revocation; effective 15 days after the other party received it.',
  refusal:
    'Art. 9(4): the requested authority refuses a request in full or in part; sent as a signed refusal notice (Art. 9(5)).',
  correction:
    'Art. 10(4): the provider corrects personal data it provided; delivered only after the message it refers to, and confirmed by the recipient.',
  erasure:
    'Art. 10(4): personal data that should not have been provided; the recipient destroys them and confirms.',
  'usage-report-request':
    'Art. 10(3): the provider asks how the personal data it provided were used, and with what result.',
  'usage-report': "Art. 10(3): the recipient's answer to a usage-report-request.",
  'termination-notice':
    'Art. 18(2): this party terminates the agreement; it ends six months after the other party received the notice, and all personal data received are then destroyed.',
};

/** The config loader substitutes these in any string before the schema applies (src/config.ts). */
const ENV_REFERENCE = {
  type: 'string',
  pattern: '\\$\\{[A-Z_][A-Z0-9_]*(?::-[^}]*)?\\}',
  description: 'A ${NAME} or ${NAME:-default} reference, replaced from the environment before validation.',
} as const;

type JsonObject = Record<string, unknown>;

const isObject = (v: unknown): v is JsonObject => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * One zod schema as JSON Schema 2020-12. `io: 'input'` describes what a producer may write: a field
 * with a default is optional. No `unrepresentable` fallback: a type JSON Schema cannot express should
 * fail here rather than silently become `{}` (refinements such as the config's superRefine are simply
 * not represented).
 */
function convert(file: string, title: string, description: string, schema: z.ZodType): JsonObject {
  const { $schema, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input' });
  return { $schema, $id: `${SCHEMA_BASE_URI}${file}`, title, description, ...rest };
}

/**
 * Every string in a config file may hold an environment reference, so each string-typed subschema also
 * accepts one; without this the shipped config/*.json (`"url": "${ACCORD_AMQP_URL:-amqp://…}"`) would
 * not validate against the published schema. Only schema positions are visited, never `default` or
 * `enum` data.
 */
function allowEnvReferences(node: JsonObject): JsonObject {
  const visit = (s: unknown): unknown => {
    if (!isObject(s)) return s;
    const out: JsonObject = { ...s };
    if (isObject(s.properties)) {
      out.properties = Object.fromEntries(Object.entries(s.properties).map(([k, v]) => [k, visit(v)]));
    }
    for (const key of ['items', 'additionalProperties'] as const) {
      if (isObject(s[key])) out[key] = visit(s[key]);
    }
    for (const key of ['anyOf', 'oneOf', 'allOf', 'prefixItems'] as const) {
      const list = s[key];
      if (Array.isArray(list)) out[key] = list.map(visit);
    }
    if (s.type !== 'string') return out;
    const { description, default: dflt, ...own } = out;
    return {
      ...(description === undefined ? {} : { description }),
      ...(dflt === undefined ? {} : { default: dflt }),
      anyOf: [own, { $ref: '#/$defs/envReference' }],
    };
  };
  const root = visit(node) as JsonObject;
  return { ...root, $defs: { ...(isObject(root.$defs) ? root.$defs : {}), envReference: ENV_REFERENCE } };
}

/** Every published JSON Schema, keyed by its file name in docs/schemas/. */
export function generateSchemas(): Record<string, unknown> {
  const schemas: Record<string, unknown> = {
    'submission.schema.json': convert(
      'submission.schema.json',
      'Accord submission',
      'What a case system publishes to accord.outbox: one submittable kind with its body, the sending ' +
        'authority, the recipient and a client-chosen idempotency key.',
      Submission,
    ),
    'export.schema.json': convert(
      'export.schema.json',
      'Accord export',
      'Art. 11(2): what a case system publishes to accord.outbox to pass information to a third state or ' +
        'international organisation; it leaves through accord.export.<destination> only with the consent ' +
        'of the party that provided it.',
      ExportSubmission,
    ),
    'decision.schema.json': convert(
      'decision.schema.json',
      'Accord review decision',
      'Art. 9(4): what a reviewing authority publishes to accord.outbox to decide on a request held in ' +
        'accord.review.<authorityId>: accept, accept-with-conditions, refuse-partial or refuse.',
      DecisionSubmission,
    ),
    'destruction-confirmed.schema.json': convert(
      'destruction-confirmed.schema.json',
      'Accord destruction confirmation',
      'Art. 10(4), 10(5), 18: what an authority publishes to accord.outbox once it destroyed the personal ' +
        'data of a message it received (after a destroy order, earlier, after an erasure, at termination).',
      DestructionConfirmedSubmission,
    ),
    'correction-confirmed.schema.json': convert(
      'correction-confirmed.schema.json',
      'Accord correction confirmation',
      'Art. 10(4): what an authority publishes to accord.outbox once it applied a correction it received.',
      CorrectionConfirmedSubmission,
    ),
    'destroy-order.schema.json': convert(
      'destroy-order.schema.json',
      'Accord destroy order',
      'Art. 10(5), 18: an order in accord.inbox.<authorityId> to destroy the personal data of a received ' +
        'message; answered with a destruction-confirmed submission by `confirmBy`.',
      DestroyOrderSchema,
    ),
    'envelope.schema.json': convert(
      'envelope.schema.json',
      'Accord envelope',
      'The message one gateway signs (JWS) and encrypts (JWE) for the other; delivered to an authority ' +
        'as `envelope` in accord.inbox.<authorityId>.',
      Envelope,
    ),
    'status-event.schema.json': convert(
      'status-event.schema.json',
      'Accord status event',
      'A status event on accord.events.<authorityId> about a message that authority sent; `rejected` ' +
        'carries a stable `code` (docs/errors.md) and the `path` of the offending field.',
      StatusEvent,
    ),
    'config.schema.json': allowEnvReferences(
      convert(
        'config.schema.json',
        'Accord gateway configuration',
        'The gateway config file. Any string may contain ${NAME} or ${NAME:-default}, replaced from the ' +
          'environment before validation. Not expressed here: the peer must be the other party, ' +
          'authority ids are unique per directory, and a peer sharing this broker needs its own namespace.',
        ConfigSchema,
      ),
    ),
  };
  for (const kind of Object.keys(SUBMITTABLE) as SubmittableKind[]) {
    const file = `body.${kind}.schema.json`;
    schemas[file] = convert(file, `Accord ${kind} body`, BODY_DESCRIPTIONS[kind], SUBMITTABLE[kind]);
  }
  return schemas;
}

/** The exact text of a schema file: 2-space JSON with a trailing newline. */
export function renderSchema(schema: unknown): string {
  return `${JSON.stringify(schema, null, 2)}\n`;
}

/** Write every schema into `dir`, remove `.json` files it no longer generates; one line per file. */
export function writeSchemas(dir: string, log: (line: string) => void = console.log): void {
  mkdirSync(dir, { recursive: true });
  const schemas = generateSchemas();
  for (const [file, schema] of Object.entries(schemas)) {
    const text = renderSchema(schema);
    writeFileSync(join(dir, file), text);
    log(`wrote ${relative(process.cwd(), join(dir, file))} (${Buffer.byteLength(text)} bytes)`);
  }
  for (const file of readdirSync(dir)) {
    if (file.endsWith('.json') && !(file in schemas)) {
      rmSync(join(dir, file));
      log(`removed ${relative(process.cwd(), join(dir, file))} (no longer generated)`);
    }
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // dist/scripts/gen-schemas.js → the repository root is two levels up.
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  writeSchemas(join(root, 'docs', 'schemas'));
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  const text = renderAsyncApi(version);
  writeFileSync(join(root, 'docs', 'asyncapi.yaml'), text);
  console.log(`wrote docs/asyncapi.yaml (${Buffer.byteLength(text)} bytes)`);
  const reference = renderConfigDoc(root);
  writeFileSync(join(root, 'docs', 'configuration.md'), reference);
  console.log(`wrote docs/configuration.md (${Buffer.byteLength(reference)} bytes)`);
}
