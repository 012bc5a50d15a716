/**
 * The vector classes of docs/protocol.md ("Test vectors", "Conformance kit"): one entry per kind of
 * message a peer gateway sends and per refusal a receiver must make, each with the outcome a
 * conforming receiver gives it and the requirement ids it exercises. The vector generator
 * (scripts/gen-protocol-vectors.ts) seals each class once with the fixed test keys at a fixed time;
 * the conformance kit (src/conformance/kit.ts) seals each again, with its own keys, at the current
 * time. A new class (for example one of a later wire format) is one more entry in {@link VECTOR_CLASSES}.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { PrivateJwk, PublicJwk } from '../crypto/jwk.js';
import { thumbprints } from '../crypto/trust.js';
import { ENVELOPE_VERSION } from '../domain/envelope.js';
import { ERROR_CODES, type ErrorCode } from '../errors.js';
import { nonCanonical, type Sealer } from './craft.js';

/** The receipt statuses a receiver answers with (docs/protocol.md [P-RCPT-1]). */
export const ReceiptStatus = z.enum(['delivered', 'refused', 'in-review', 'held', 'duplicate']);
export type ReceiptStatus = z.infer<typeof ReceiptStatus>;

/** An error code of src/errors.ts, as a manifest names it. */
const Code = z.string().refine((c): c is ErrorCode => c in ERROR_CODES, 'not an error code of src/errors.ts');

/**
 * What a conforming receiver does with a vector:
 * - `taken-in`: a signed receipt with `status` (a kit also accepts any of `accept`); `inbox`: the
 *   message reaches the addressed authority's inbox (false for the key messages, which are applied);
 * - `parked`: no receipt; the receiver's dead letter carries `code`;
 * - `duplicate`: the vector is published twice; the second copy gets the first receipt, byte for byte,
 *   and nothing is delivered twice;
 * - `heard`: a heartbeat: no receipt, no delivery, the receiver only notes the time;
 * - `receipt-accepted`: a receipt for a message the receiver sent: its sending authority is told.
 */
export const Expectation = z.discriminatedUnion('outcome', [
  z.strictObject({
    outcome: z.literal('taken-in'),
    status: ReceiptStatus,
    accept: z.array(ReceiptStatus).optional(),
    inbox: z.boolean(),
  }),
  z.strictObject({ outcome: z.literal('parked'), code: Code }),
  z.strictObject({ outcome: z.literal('duplicate') }),
  z.strictObject({ outcome: z.literal('heard') }),
  z.strictObject({ outcome: z.literal('receipt-accepted') }),
]);
export type Expectation = z.infer<typeof Expectation>;

/** A party and one of its authorities, as an envelope's `from` and `to` name them. */
export interface Address {
  party: string;
  authority: string;
}

/** A message the receiver sent to the sender, for a receipt to answer. */
export interface SentByReceiver {
  id: string;
  jweSha256: string;
  /** Its `from` (the receiver's authority) and `to` (the sender's). */
  from: Address;
  to: Address;
  priority: 'normal' | 'urgent';
}

/** Everything a class needs to build its message. */
export interface VectorContext {
  /** The sealing instant, in ms since the epoch: the envelope's `createdAt`. */
  nowMs: number;
  /** The sending authority (the sender's first) and the addressed one (the receiver's first). */
  from: Address;
  to: Address;
  /** The sender's own directory, for a directory-update that changes nothing. */
  ownDirectory: { id: string; name: string }[];
  sealer: Sealer;
  /** The id of the class's message: fixed for the vectors, fresh for the kit. */
  idFor(name: string): string;
  /** A signing key the receiver has not pinned ([P-JOSE-9]). */
  unpinnedSigningKey: PrivateJwk;
  /** A public signing key to announce, then revoke ([P-KEY-1], [P-KEY-3]). */
  announcedKey: PublicJwk;
  /** The receiver's size limit, in bytes ([P-JOSE-12]). */
  maxMessageBytes: number;
  /** A message the receiver sent, when one is at hand (for the `receipt` class). */
  sentByReceiver?: SentByReceiver;
}

/** What a class sends: the copies, in order, and the routing key they go with. */
export interface BuiltVector {
  /** The envelope's id (what a receipt answers and a dead letter names). */
  id: string;
  copies: string[];
  /** `ingress` (the ingress's own key) or `heartbeat` ([P-HB-1]). */
  route: 'ingress' | 'heartbeat';
  /** The envelope's addresses and priority, which its receipt must mirror ([P-RCPT-3]). */
  from: Address;
  to: Address;
  priority: 'normal' | 'urgent';
}

/**
 * The SHA-256 a receipt carries for a copy ([P-RCPT-4]): of the compact JWE without the trailing
 * whitespace the wire boundary ignores ([P-JOSE-3]).
 */
export function receiptDigest(copy: string | Buffer): string {
  const text = typeof copy === 'string' ? copy : copy.toString('latin1');
  return createHash('sha256')
    .update(text.replace(/[ \t\r\n]+$/, ''), 'latin1')
    .digest('hex');
}

/** What a class sends: `copies` of the sealed `env`. */
function sent(
  env: Record<string, unknown>,
  copies: string[],
  route: BuiltVector['route'] = 'ingress',
): BuiltVector {
  return {
    id: env.id as string,
    copies,
    route,
    from: env.from as Address,
    to: env.to as Address,
    priority: env.priority === 'urgent' ? 'urgent' : 'normal',
  };
}

/** One class of vector. */
export interface VectorClass {
  /** A stable name: the vector's file name and the kit's report line. */
  name: string;
  /** The envelope's kind. */
  kind: string;
  /** What it shows: one line for the manifest and the report. */
  description: string;
  /** The docs/protocol.md requirement ids it exercises. */
  requirements: string[];
  expect: Expectation;
  /** A class that runs after another (e.g. a revocation of the key an announcement pinned). */
  after?: string;
  /**
   * Changes the receiver's state in a way that lasts (a termination's six months): the kit sends it
   * only when asked (`--with-disruptive`).
   */
  disruptive?: boolean;
  /**
   * Why a receiver may conform and still not take it in (a MAY of docs/protocol.md): the kit then
   * reports no receipt as SKIP with this reason, not as FAIL. A receipt with another status still fails.
   */
  mayRefuse?: string;
  /**
   * What the receiver must have done first, when no peer can bring it about: `sent-a-message` (a
   * receipt needs a message the receiver sent), `dedup-record-lost` (a replay after the receiver lost
   * its de-duplication record). A class with a precondition has no fixed file; a test sets it up.
   */
  precondition?: 'sent-a-message' | 'dedup-record-lost';
  build(ctx: VectorContext): BuiltVector | undefined;
}

const DAY_MS = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();

/**
 * An envelope of `kind` from `ctx.from` to `ctx.to`, created at `ctx.nowMs` and valid for seven days,
 * with a destruction deadline (its body may carry personal data); `over` replaces whole members.
 */
export function envelope(
  ctx: VectorContext,
  name: string,
  kind: string,
  body: object,
  over: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    v: ENVELOPE_VERSION,
    id: ctx.idFor(name),
    kind,
    from: ctx.from,
    to: ctx.to,
    createdAt: iso(ctx.nowMs),
    expiresAt: iso(ctx.nowMs + 7 * DAY_MS),
    priority: 'normal',
    language: 'en',
    handling: {
      purposes: ['combating-crime'],
      conditions: [],
      sensitive: [],
      destroyBy: iso(ctx.nowMs + 180 * DAY_MS),
    },
    body,
    ...over,
  };
}

/** Section 5.4: a receiver MAY refuse in-band key messages (`keys.acceptAnnouncements: false`). */
const KEY_MESSAGES_MAY_BE_REFUSED =
  'no receipt: a receiver may refuse in-band key messages and pin keys by hand (section 5.4), so silence is not a failure';

/** The handling of the messages between the gateways themselves (no personal data, no purpose). */
const GATEWAY_HANDLING = { purposes: [], conditions: [], sensitive: [] };

/** A reference to a message the receiver never saw: what a notice or a reply answers. */
const OTHER = (ctx: VectorContext, what: string) => ctx.idFor(`referenced/${what}`);

/** A class whose message is sealed as it is, and taken in with `status`. */
function takenIn(
  name: string,
  kind: string,
  description: string,
  requirements: string[],
  body: (ctx: VectorContext) => object,
  opts: {
    status?: ReceiptStatus;
    accept?: ReceiptStatus[];
    inbox?: boolean;
    over?: (ctx: VectorContext) => Record<string, unknown>;
    disruptive?: boolean;
    after?: string;
    mayRefuse?: string;
  } = {},
): VectorClass {
  return {
    name,
    kind,
    description,
    requirements: ['P-RCPT-1', 'P-RCPT-3', 'P-RCPT-4', 'P-AMQP-3', ...requirements],
    expect: {
      outcome: 'taken-in',
      status: opts.status ?? 'delivered',
      ...(opts.accept ? { accept: opts.accept } : {}),
      inbox: opts.inbox ?? true,
    },
    ...(opts.disruptive ? { disruptive: true } : {}),
    ...(opts.after ? { after: opts.after } : {}),
    ...(opts.mayRefuse ? { mayRefuse: opts.mayRefuse } : {}),
    build(ctx) {
      const env = envelope(ctx, name, kind, body(ctx), opts.over?.(ctx) ?? {});
      return sent(env, [ctx.sealer.seal(env)]);
    },
  };
}

/** A class of a correct-looking message the receiver must park with `code`, sending nothing back. */
function refused(
  name: string,
  description: string,
  requirements: string[],
  code: ErrorCode,
  make: (ctx: VectorContext, env: Record<string, unknown>) => string,
  kind = 'travel-document',
): VectorClass {
  return {
    name,
    kind,
    description,
    requirements: [...requirements, 'P-RCPT-2', 'P-ERR-1'],
    expect: { outcome: 'parked', code },
    build(ctx) {
      const env = envelope(ctx, name, kind, travelDocuments(ctx));
      return sent(env, [make(ctx, env)]);
    },
  };
}

const travelDocuments = (ctx: VectorContext) => ({
  documents: [{ number: 'VECTOR001', type: 'passport', status: 'lost', issuingState: ctx.from.party }],
});

/** Every class, in the order the vectors are published (an `after` class comes after its own). */
export const VECTOR_CLASSES: readonly VectorClass[] = [
  // --- Requests and information (Art. 6, 7, 9): delivered to the addressed authority.
  takenIn(
    'request',
    'request',
    'an Art. 9 request with a reply date',
    ['P-KIND-1'],
    (ctx) => ({
      crimeCategories: ['forgery'],
      informationTypes: ['travel-documents'],
      assistanceTypes: ['search-objects'],
      summary: 'Status of a passport presented at a border crossing (conformance vector)',
      replyBy: iso(ctx.nowMs + 14 * DAY_MS),
      travelDocuments: [{ number: 'VECTOR002', type: 'passport', issuingState: ctx.to.party }],
    }),
    // A receiver's screening may refuse a request or hold it for review: a kit takes either.
    { accept: ['delivered', 'in-review', 'refused'] },
  ),
  takenIn('reply', 'reply', 'a reply to a request', [], (ctx) => ({
    inReplyTo: OTHER(ctx, 'request'),
    summary: 'The passport was reported lost (conformance vector)',
  })),
  takenIn('further-info-request', 'further-info-request', 'a request for further information', [], (ctx) => ({
    inReplyTo: OTHER(ctx, 'request'),
    questions: ['Which page shows signs of alteration?'],
  })),
  takenIn(
    'spontaneous',
    'spontaneous',
    'spontaneous information (Art. 7), urgent',
    [],
    () => ({
      crimeCategories: ['drug-trafficking'],
      informationTypes: ['planned-offences'],
      summary: 'A shipment of precursors is expected (conformance vector)',
    }),
    { over: () => ({ priority: 'urgent' }) },
  ),
  takenIn(
    'travel-document',
    'travel-document',
    'a travel-document notification (Art. 6)',
    [],
    travelDocuments,
  ),
  takenIn('person-search', 'person-search', 'a search for a missing person', [], () => ({
    reason: 'missing',
    person: { familyName: 'Vector', givenNames: 'Test', dateOfBirth: '2000-01-01' },
    crimeCategories: ['human-trafficking'],
    summary: 'Person missing (conformance vector)',
  })),
  // --- Notices about a request (Art. 9(2), 9(4), 9(5)).
  takenIn(
    'refusal-notice',
    'refusal-notice',
    'a refusal notice',
    [],
    (ctx) => ({
      inReplyTo: OTHER(ctx, 'request'),
      scope: 'full',
      grounds: ['sovereignty'],
      explanation: 'Refused (conformance vector)',
      decidedBy: { kind: 'authority' },
    }),
    { over: () => ({ handling: GATEWAY_HANDLING }) },
  ),
  takenIn(
    'referral-notice',
    'referral-notice',
    'a referral notice',
    [],
    (ctx) => ({
      inReplyTo: OTHER(ctx, 'request'),
      referredFrom: ctx.from.authority,
      referredTo: ctx.from.authority,
    }),
    { over: () => ({ handling: GATEWAY_HANDLING }) },
  ),
  takenIn(
    'acceptance-notice',
    'acceptance-notice',
    'an acceptance notice on conditions',
    [],
    (ctx) => ({
      inReplyTo: OTHER(ctx, 'request'),
      conditions: ['Use only for the proceedings named in the request.'],
      decidedBy: { kind: 'person' },
    }),
    {
      over: () => ({
        handling: { ...GATEWAY_HANDLING, conditions: ['Use only for the proceedings named in the request.'] },
      }),
    },
  ),
  // --- Personal data (Art. 10).
  takenIn(
    'consent-request',
    'consent-request',
    'a request for consent to pass data on (Art. 11(2))',
    [],
    (ctx) => ({
      references: [OTHER(ctx, 'provided')],
      destinations: ['interpol'],
      purpose: 'Record a stolen passport (conformance vector)',
    }),
  ),
  takenIn(
    'usage-report-request',
    'usage-report-request',
    'a request for a usage report (Art. 10(3))',
    [],
    (ctx) => ({
      references: [OTHER(ctx, 'provided')],
      question: 'How were the data used? (conformance vector)',
    }),
  ),
  takenIn('consent', 'consent', 'a consent to pass data on to a destination (Art. 11(2))', [], (ctx) => ({
    references: [OTHER(ctx, 'received')],
    destinations: ['interpol'],
    granted: true,
    validUntil: iso(ctx.nowMs + 90 * DAY_MS),
    conditions: [],
  })),
  takenIn('usage-report', 'usage-report', 'a usage report (Art. 10(3))', [], (ctx) => ({
    inReplyTo: OTHER(ctx, 'usage-report-request'),
    use: 'Used to identify a vehicle (conformance vector)',
  })),
  takenIn(
    'confirmation-notice',
    'confirmation-notice',
    'a confirmation of destruction',
    [],
    (ctx) => ({
      refersTo: OTHER(ctx, 'provided'),
      action: 'destroyed',
      reason: 'no-longer-needed',
      at: iso(ctx.nowMs),
    }),
    { over: () => ({ handling: GATEWAY_HANDLING }) },
  ),
  takenIn(
    'correction-held',
    'correction',
    'a correction of a message the receiver never received: held, not delivered (Art. 10(4))',
    ['P-KIND-4'],
    (ctx) => ({
      refersTo: OTHER(ctx, 'never-sent'),
      reason: 'A date was keyed in wrongly (conformance vector)',
    }),
    { status: 'held', inbox: false },
  ),
  takenIn(
    'erasure-held',
    'erasure',
    'an erasure of a message the receiver never received: held, not delivered (Art. 10(4))',
    ['P-KIND-4'],
    (ctx) => ({
      refersTo: OTHER(ctx, 'never-sent'),
      reason: 'Provided by mistake (conformance vector)',
      scope: 'all',
    }),
    { status: 'held', inbox: false },
  ),
  // --- Notices about the agreement (Art. 13, 17, 18).
  takenIn(
    'directory-update',
    'directory-update',
    'a directory update listing the same authorities (held for an operator’s approval)',
    [],
    (ctx) => ({
      authorities: ctx.ownDirectory,
      reason: 'Art. 13: the directory confirmed unchanged (conformance vector)',
    }),
    { over: () => ({ handling: GATEWAY_HANDLING }) },
  ),
  takenIn(
    'suspension-notice',
    'suspension-notice',
    'a resumption notice (Art. 17): resumes what may be suspended, suspends nothing',
    [],
    () => ({
      action: 'resume',
      scope: 'all',
      grounds: ['public-order'],
      reason: 'Conformance vector',
    }),
    { over: () => ({ handling: GATEWAY_HANDLING }) },
  ),
  takenIn(
    'termination-notice',
    'termination-notice',
    'a termination notice (Art. 18): the agreement ends six months after its intake',
    [],
    () => ({ diplomaticNote: 'Conformance vector, not a note' }),
    { over: () => ({ handling: GATEWAY_HANDLING }), disruptive: true },
  ),
  // --- Key messages (gateway to gateway, urgent, never delivered to an authority).
  takenIn(
    'key-announcement',
    'key-announcement',
    'an announced signing key with its thumbprint (pinned, held for approval)',
    ['P-KEY-1'],
    (ctx) => ({
      keys: [ctx.announcedKey],
      thumbprints: thumbprints({ keys: [ctx.announcedKey] }).map((t) => t.thumbprint),
    }),
    {
      inbox: false,
      mayRefuse: KEY_MESSAGES_MAY_BE_REFUSED,
      over: () => ({ priority: 'urgent', handling: GATEWAY_HANDLING }),
    },
  ),
  takenIn(
    'key-revocation',
    'key-revocation',
    'the revocation of the key announced before',
    ['P-KEY-3'],
    (ctx) => ({
      kid: ctx.announcedKey.kid,
      use: 'sig',
      reason: 'Conformance vector',
      revokedAt: iso(ctx.nowMs),
    }),
    {
      inbox: false,
      mayRefuse: KEY_MESSAGES_MAY_BE_REFUSED,
      after: 'key-announcement',
      over: () => ({ priority: 'urgent', handling: GATEWAY_HANDLING }),
    },
  ),
  {
    name: 'trailing-whitespace',
    kind: 'travel-document',
    description: 'a correct message with whitespace after the JWE: taken in, digested without it',
    requirements: ['P-JOSE-3', 'P-RCPT-1', 'P-RCPT-4'],
    expect: { outcome: 'taken-in', status: 'delivered', inbox: true },
    build(ctx) {
      const env = envelope(ctx, 'trailing-whitespace', 'travel-document', travelDocuments(ctx));
      return sent(env, [`${ctx.sealer.seal(env)} \t\r\n`]);
    },
  },
  // --- Heartbeat: checked, noted, never answered.
  {
    name: 'heartbeat',
    kind: 'heartbeat',
    description: 'a heartbeat on its own routing key: no receipt, no delivery',
    requirements: ['P-HB-2'],
    expect: { outcome: 'heard' },
    build(ctx) {
      const env = envelope(
        ctx,
        'heartbeat',
        'heartbeat',
        { intervalS: 30 },
        {
          priority: 'urgent',
          handling: GATEWAY_HANDLING,
          expiresAt: iso(ctx.nowMs + 3600_000),
        },
      );
      return sent(env, [ctx.sealer.seal(env)], 'heartbeat');
    },
  },
  // --- Receipts.
  {
    name: 'receipt',
    kind: 'receipt',
    description: 'a receipt for a message the receiver sent: its authority is told',
    requirements: ['P-RCPT-5', 'P-RCPT-6'],
    expect: { outcome: 'receipt-accepted' },
    precondition: 'sent-a-message',
    build(ctx) {
      const original = ctx.sentByReceiver;
      if (!original) return undefined;
      const env = envelope(
        ctx,
        'receipt',
        'receipt',
        {
          forMessageId: original.id,
          jweSha256: original.jweSha256,
          receivedAt: iso(ctx.nowMs),
          status: 'delivered',
        },
        { from: original.to, to: original.from, priority: original.priority, handling: GATEWAY_HANDLING },
      );
      return sent(env, [ctx.sealer.seal(env)]);
    },
  },
  {
    name: 'receipt-unknown-message',
    kind: 'receipt',
    description: 'a receipt for a message the receiver never sent: parked, and no receipt for a receipt',
    requirements: ['P-RCPT-5', 'P-RCPT-2', 'P-ERR-1'],
    expect: { outcome: 'parked', code: 'receipt.unknown_message' },
    build(ctx) {
      const env = envelope(
        ctx,
        'receipt-unknown-message',
        'receipt',
        {
          forMessageId: OTHER(ctx, 'never-sent'),
          jweSha256: '0'.repeat(64),
          receivedAt: iso(ctx.nowMs),
          status: 'delivered',
        },
        { handling: GATEWAY_HANDLING },
      );
      return sent(env, [ctx.sealer.seal(env)]);
    },
  },
  // --- Duplicates and replays (section 6).
  {
    name: 'replay',
    kind: 'travel-document',
    description: 'the same sealed message twice: one delivery, the same receipt byte for byte',
    requirements: ['P-DUP-3', 'P-DUP-4'],
    expect: { outcome: 'duplicate' },
    build(ctx) {
      const env = envelope(ctx, 'replay', 'travel-document', travelDocuments(ctx));
      const jwe = ctx.sealer.seal(env);
      return sent(env, [jwe, jwe]);
    },
  },
  {
    name: 'replay-record-lost',
    kind: 'travel-document',
    description: 'a message taken in, sent again after the receiver lost its de-duplication record',
    requirements: ['P-DUP-5', 'P-RCPT-2'],
    expect: { outcome: 'parked', code: 'envelope.replayed' },
    precondition: 'dedup-record-lost',
    build(ctx) {
      const env = envelope(ctx, 'replay-record-lost', 'travel-document', travelDocuments(ctx));
      const jwe = ctx.sealer.seal(env);
      return sent(env, [jwe, jwe]);
    },
  },
  // --- Refusals: each otherwise correct, so that only the one check can refuse it.
  refused(
    'wrong-recipient',
    'signed for the sender’s own party, encrypted to the receiver (surreptitious forwarding)',
    ['P-ENV-2'],
    'envelope.wrong_recipient',
    (ctx, env) => ctx.sealer.seal({ ...env, to: { party: ctx.from.party, authority: ctx.from.authority } }),
  ),
  refused('expired', 'expired an hour before it is sent', ['P-JOSE-13'], 'envelope.expired', (ctx, env) =>
    ctx.sealer.seal({
      ...env,
      createdAt: iso(ctx.nowMs - 2 * 3600_000),
      expiresAt: iso(ctx.nowMs - 3600_000),
    }),
  ),
  refused(
    'not-yet-valid',
    'created an hour in the future',
    ['P-JOSE-13'],
    'envelope.not_yet_valid',
    (ctx, env) =>
      ctx.sealer.seal({
        ...env,
        createdAt: iso(ctx.nowMs + 3600_000),
        expiresAt: iso(ctx.nowMs + 2 * 3600_000),
      }),
  ),
  refused(
    'unknown-kid',
    'signed with a key the receiver has not pinned',
    ['P-JOSE-9'],
    'crypto.unknown_kid',
    (ctx, env) => ctx.sealer.seal(env, { signWith: ctx.unpinnedSigningKey }),
  ),
  refused(
    'forbidden-header-jwe',
    'a JWE protected header with jku (a key fetched from the message)',
    ['P-JOSE-8', 'P-JOSE-4'],
    'crypto.header_invalid',
    (ctx, env) => ctx.sealer.seal(env, { jweHeader: { jku: 'https://keys.invalid/jwks.json' } }),
  ),
  refused(
    'forbidden-header-jws',
    'a JWS protected header carrying its own key (jwk)',
    ['P-JOSE-8', 'P-JOSE-6'],
    'crypto.header_invalid',
    (ctx, env) => ctx.sealer.seal(env, { jwsHeader: { jwk: ctx.announcedKey } }),
  ),
  refused(
    'unknown-member',
    'a signed envelope with a member the schema does not have',
    ['P-ENV-1', 'P-VER-3'],
    'schema.invalid',
    (ctx, env) => ctx.sealer.seal({ ...env, note: 'unknown member' }),
  ),
  refused('unknown-version', 'a signed envelope of version 2', ['P-VER-1'], 'schema.invalid', (ctx, env) =>
    ctx.sealer.seal({ ...env, v: 2 }),
  ),
  refused(
    'unknown-kind',
    'a signed envelope of a kind no version has',
    ['P-VER-2'],
    'schema.invalid',
    (ctx, env) => ctx.sealer.seal({ ...env, kind: 'x-conformance-unknown-kind' }),
  ),
  refused(
    'destruction-deadline-missing',
    'personal data (a document number) without a destruction deadline (Art. 10(5))',
    ['P-ENV-4'],
    'policy.destruction_deadline_missing',
    (ctx, env) =>
      ctx.sealer.seal({ ...env, handling: { purposes: ['combating-crime'], conditions: [], sensitive: [] } }),
  ),
  refused(
    'non-canonical',
    'the JWE tag base64url-encoded with non-zero unused bits (same bytes, another string)',
    ['P-JOSE-2'],
    'crypto.malformed',
    (ctx, env) => nonCanonical(ctx.sealer.seal(env)),
  ),
  refused(
    'oversize',
    'a correct message padded past the receiver’s size limit',
    ['P-JOSE-12'],
    'input.too_large',
    (ctx, env) => ctx.sealer.seal(env, { padBytes: ctx.maxMessageBytes }),
  ),
];

/** The class of this name. */
export function vectorClass(name: string): VectorClass {
  const c = VECTOR_CLASSES.find((v) => v.name === name);
  if (!c) throw new Error(`no vector class ${name}`);
  return c;
}
