/**
 * docs/asyncapi.yaml (AsyncAPI 3.0), generated from the same zod schemas the gateway parses with: every
 * queue a case system, an export connector, an admin or the peer gateway touches, every message kind
 * with its payload, the status events and every error code. `npm run schemas` writes it beside
 * docs/schemas/; test/asyncapi.test.ts fails when it is stale or when the AsyncAPI parser finds an error.
 */
import { z } from 'zod';
import { stringify } from 'yaml';
import { Envelope } from '../src/domain/envelope.js';
import { EVENT_TYPES, StatusEvent } from '../src/domain/events.js';
import {
  DeadLetterSchema,
  DestroyOrderSchema,
  ExportRecordSchema,
  InboxDeliverySchema,
} from '../src/domain/delivery.js';
import { GATEWAY_ONLY, SUBMITTABLE, type SubmittableKind } from '../src/domain/messages.js';
import {
  DecisionSubmission,
  CorrectionConfirmedSubmission,
  DestructionConfirmedSubmission,
  ExportSubmission,
  OralRequestRecord,
  Submission,
} from '../src/domain/submission.js';
import { ERROR_CODES } from '../src/errors.js';

type JsonObject = Record<string, unknown>;

/**
 * A zod schema as an AsyncAPI Schema (a superset of JSON Schema draft-07). Payloads are embedded, so a
 * schema must be self-contained: a `$ref` would point into the AsyncAPI document instead.
 */
function schemaOf(schema: z.ZodType, description?: string): JsonObject {
  const { $schema: _s, ...rest } = z.toJSONSchema(schema, { target: 'draft-7', io: 'input' });
  if (JSON.stringify(rest).includes('"$ref"')) throw new Error(`a payload schema is not self-contained`);
  return description === undefined ? rest : { description, ...rest };
}

/** The member of the submission union for one kind. */
function submissionOf(kind: SubmittableKind): z.ZodType {
  const member = Submission.options.find((o) => o.shape.kind.value === kind);
  if (!member) throw new Error(`no submission variant for ${kind}`);
  return member;
}

const queue = (name: string) => ({
  amqp: {
    is: 'queue',
    queue: { name, durable: true, exclusive: false, autoDelete: false, vhost: '/' },
    bindingVersion: '0.3.0',
  },
});

const json = 'application/json';

export function generateAsyncApi(version: string): JsonObject {
  // The envelope is large (one variant per kind): the delivery refers to it instead of repeating it.
  const delivery = schemaOf(InboxDeliverySchema);
  const inboxDelivery = {
    ...delivery,
    properties: {
      ...(delivery.properties as JsonObject),
      envelope: { $ref: '#/components/schemas/envelope' },
    },
  };
  const messages: JsonObject = {};
  const outboxRefs: JsonObject = {};
  for (const kind of Object.keys(SUBMITTABLE) as SubmittableKind[]) {
    const name = `submission-${kind}`;
    messages[name] = {
      name,
      title: `Submission: ${kind}`,
      contentType: json,
      payload: schemaOf(submissionOf(kind)),
    };
    outboxRefs[name] = { $ref: `#/components/messages/${name}` };
  }
  const control = {
    export: [
      ExportSubmission,
      'Art. 11(2): information for a third state or international organisation, through the export gate.',
    ],
    decision: [
      DecisionSubmission,
      'Art. 9(4): the reviewing authority decides on a request held in its review queue.',
    ],
    'destruction-confirmed': [
      DestructionConfirmedSubmission,
      'Art. 10(4), 10(5), 18: the authority destroyed the personal data of a received message.',
    ],
    'correction-confirmed': [
      CorrectionConfirmedSubmission,
      'Art. 10(4): the authority applied a correction it received; the provider is told.',
    ],
    'oral-request': [
      OralRequestRecord,
      'Art. 9(1): the record of an urgent oral request; starts the deadline for its written confirmation.',
    ],
  } as const;
  for (const [kind, [schema, summary]] of Object.entries(control)) {
    const name = `submission-${kind}`;
    messages[name] = {
      name,
      title: `Submission: ${kind}`,
      summary,
      contentType: json,
      payload: schemaOf(schema),
    };
    outboxRefs[name] = { $ref: `#/components/messages/${name}` };
  }
  const errorTable = Object.entries(ERROR_CODES)
    .map(([code, meaning]) => `- \`${code}\`: ${meaning}`)
    .join('\n');
  messages['inbox-delivery'] = {
    name: 'inbox-delivery',
    title: 'Inbox delivery',
    summary:
      'A verified message for the authority: the envelope, its handling conditions and how it was verified.',
    description:
      'Kinds a gateway writes itself arrive here too: ' +
      Object.keys(GATEWAY_ONLY)
        // Receipts and key messages stay between the gateways.
        .filter((k) => k !== 'receipt' && k !== 'key-announcement' && k !== 'key-revocation')
        .join(', ') +
      '. Header `x-accord-delivery` is unique per inbox message (a broker redelivery repeats it).',
    contentType: json,
    headers: { type: 'object', properties: { 'x-accord-delivery': { type: 'string', format: 'uuid' } } },
    payload: { $ref: '#/components/schemas/inbox-delivery' },
  };
  messages['destroy-order'] = {
    name: 'destroy-order',
    title: 'Destroy order',
    summary:
      'Art. 10(5), 18: destroy the personal data of a received message (its deadline came, or the agreement ended); ' +
      'answer with a destruction-confirmed submission by `confirmBy`. Told apart from a delivery by `order: "destroy"`.',
    contentType: json,
    payload: schemaOf(DestroyOrderSchema),
  };
  messages['review-item'] = {
    name: 'review-item',
    title: 'Request held for review',
    summary: 'Art. 9(4): an inbound request a rule or hook held for a person; `review.reasons` say why.',
    contentType: json,
    payload: { $ref: '#/components/schemas/inbox-delivery' },
  };
  messages['status-event'] = {
    name: 'status-event',
    title: 'Status event',
    summary: `What became of a message the authority sent: ${EVENT_TYPES.join(', ')}.`,
    description: `\`code\` is one of the stable error codes (docs/errors.md):\n\n${errorTable}`,
    contentType: json,
    payload: schemaOf(StatusEvent),
  };
  messages['export-record'] = {
    name: 'export-record',
    title: 'Export record',
    summary: 'Art. 11(2): what may leave for a third state or organisation, with the consents relied on.',
    contentType: json,
    payload: schemaOf(ExportRecordSchema),
  };
  messages['dead-letter'] = {
    name: 'dead-letter',
    title: 'Dead letter',
    summary: 'What could not be processed, with a stable code and nothing personal.',
    contentType: json,
    payload: schemaOf(DeadLetterSchema),
  };
  messages['sealed-envelope'] = {
    name: 'sealed-envelope',
    title: 'Sealed envelope (peer link)',
    summary:
      'A compact JWE (typ accord-message+jwe) wrapping a compact JWS (typ accord-envelope+jws) of the envelope.',
    description:
      'Only the peer gateway publishes here. Header `x-accord-copy` names the physical copy. The envelope ' +
      'inside is `components/schemas/envelope`; receipts travel the same way.',
    contentType: 'application/jose',
    headers: { type: 'object', properties: { 'x-accord-copy': { type: 'string', maxLength: 64 } } },
    payload: { type: 'string', pattern: '^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]*){4}$' },
  };

  const authorityParam = {
    authorityId: { description: 'An authority id of this party’s directory (Art. 13).' },
  };
  const ref = (name: string) => ({ $ref: `#/components/messages/${name}` });
  const channels: JsonObject = {
    outbox: {
      address: 'accord.outbox',
      title: 'Outbox',
      description:
        'Case systems publish submissions here through the exchange `accord.submit` (routing key `accord.outbox`; ' +
        'the only exchange an authority’s broker user may write to), persistent, with the AMQP `user_id` of their ' +
        'broker user and AMQP priority 9 for urgent ones (docs/security.md). With a namespace in the config every ' +
        'address is prefixed, e.g. `cz.accord.outbox`.',
      messages: outboxRefs,
      bindings: queue('accord.outbox'),
    },
    inbox: {
      address: 'accord.inbox.{authorityId}',
      title: 'Inbox of one authority',
      parameters: authorityParam,
      messages: { 'inbox-delivery': ref('inbox-delivery'), 'destroy-order': ref('destroy-order') },
      bindings: queue('accord.inbox.{authorityId}'),
    },
    review: {
      address: 'accord.review.{authorityId}',
      title: 'Review queue of one authority (Art. 9(4))',
      parameters: authorityParam,
      messages: { 'review-item': ref('review-item') },
      bindings: queue('accord.review.{authorityId}'),
    },
    events: {
      address: 'accord.events.{authorityId}',
      title: 'Status events of one authority',
      parameters: authorityParam,
      messages: { 'status-event': ref('status-event') },
      bindings: queue('accord.events.{authorityId}'),
    },
    export: {
      address: 'accord.export.{destination}',
      title: 'Export gate (Art. 11(2))',
      parameters: {
        destination: { description: 'A destination listed in the config’s exportDestinations.' },
      },
      messages: { 'export-record': ref('export-record') },
      bindings: queue('accord.export.{destination}'),
    },
    dlq: {
      address: 'accord.dlq',
      title: 'Dead letters',
      messages: { 'dead-letter': ref('dead-letter') },
      bindings: queue('accord.dlq'),
    },
    ingress: {
      address: 'accord.ingress',
      title: 'Ingress (peer link)',
      description: 'The peer gateway publishes sealed envelopes and signed receipts here; nobody else.',
      messages: { 'sealed-envelope': ref('sealed-envelope') },
      bindings: queue('accord.ingress'),
    },
  };
  const op = (action: 'send' | 'receive', channel: string, title: string, names: string[]) => ({
    action,
    title,
    channel: { $ref: `#/channels/${channel}` },
    messages: names.map((n) => ({ $ref: `#/channels/${channel}/messages/${n}` })),
  });
  const operations: JsonObject = {
    submit: op('send', 'outbox', 'A case system submits', Object.keys(outboxRefs)),
    receiveInbox: op('receive', 'inbox', 'A case system receives verified messages and destroy orders', [
      'inbox-delivery',
      'destroy-order',
    ]),
    receiveReview: op('receive', 'review', 'A reviewer receives held requests', ['review-item']),
    receiveEvents: op('receive', 'events', 'A case system follows its messages', ['status-event']),
    receiveExports: op('receive', 'export', 'An export connector takes what may leave', ['export-record']),
    receiveDeadLetters: op('receive', 'dlq', 'An administrator inspects dead letters', ['dead-letter']),
    peerDelivers: op('send', 'ingress', 'The peer gateway delivers sealed envelopes and receipts', [
      'sealed-envelope',
    ]),
  };
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Accord gateway',
      version,
      description:
        'The queues of one Accord gateway (CZ–KZ agreement on cooperation in combating crime), as a case system, ' +
        'an export connector, an administrator and the peer gateway see them. Generated from the gateway’s own ' +
        'schemas by `npm run schemas`; do not edit by hand.',
    },
    defaultContentType: json,
    servers: {
      local: {
        host: '127.0.0.1:5672',
        protocol: 'amqp',
        protocolVersion: '0.9.1',
        description: 'The gateway’s local RabbitMQ (case systems and the gateway).',
      },
    },
    channels,
    operations,
    components: {
      messages,
      schemas: {
        envelope: schemaOf(Envelope, 'The signed envelope inside the JWE.'),
        'inbox-delivery': inboxDelivery,
      },
    },
  };
}

/** The exact text of docs/asyncapi.yaml. */
export function renderAsyncApi(version: string): string {
  return `# Generated by npm run schemas (scripts/gen-asyncapi.ts); do not edit.\n${stringify(generateAsyncApi(version), { lineWidth: 0 })}`;
}
