/**
 * What one message kind is, in one place: the checks before a case system's submission of it is sent,
 * what its arrival from the peer starts, where it goes, and what the peer's receipt for one we sent
 * sets off. One file of src/kinds/ per family of kinds, named after its article, fills these in; the
 * pipelines look a kind up ({@link ../kinds/index.ts}) and hold no branch on kinds.
 *
 * Everything here is pure: a spec reads the message and the {@link Facts} the pipeline loaded for it
 * (asked for with {@link Lookups}) and returns {@link Effect}s, which the one executor
 * (src/pipeline/execute.ts) carries out in the pipeline's crash-safe order.
 */
import type { AuditInput } from '../audit/log.js';
import type { Config } from '../config.js';
import type { Envelope, EnvelopeOf } from '../domain/envelope.js';
import type { StatusEvent } from '../domain/events.js';
import type { MessageKind, SubmittableKind } from '../domain/messages.js';
import type { Submission } from '../domain/submission.js';
import type { OpenFacts } from '../crypto/open.js';
import type { GateConsent } from '../policy/onward-transfer.js';
import type { DecideOutcome } from '../policy/review.js';
import type { AccordError } from '../errors.js';
import type { z } from 'zod';
import type {
  Deadline,
  DeadlineKind,
  PendingDirectoryUpdate,
  ProvidedRecord,
  ReceivedRecord,
  RefusalFacts,
  SeenRecord,
  SentRecord,
  Termination,
} from '../pipeline/ports.js';
import type { InboxDelivery, NoticeContent } from '../pipeline/dispatch.js';
import type { ReviewRecord } from '../policy/review.js';
import type { SuspensionEntry } from '../policy/suspension.js';

/** A submission of one kind. */
export type SubmissionOf<K extends SubmittableKind> = Extract<Submission, { kind: K }>;

/** What a decision may ask the pipeline to look up before it is taken. */
export interface Lookups {
  /** Messages this party provided (ledger). */
  provided?: readonly string[];
  /** Messages this party received (ledger). */
  received?: readonly string[];
  /** Messages the receiving side took in (de-duplication records). */
  seen?: readonly string[];
  /** Messages this party sent (sealed records). */
  sent?: readonly string[];
  /** Art. 17: every suspension notice. */
  suspensions?: boolean;
  /** Art. 17: one notice, by the id of the message that carried it. */
  suspension?: string;
  /** Art. 9(4): a request held for review, reopened from its stored JWE, and whether `decisionId` was carried out. */
  review?: { id: string; decisionId: string };
  /** Obligations met before. */
  met?: readonly { kind: DeadlineKind; id: string }[];
  /** Art. 11(2): the consents for `destination` of the messages named, and of those the identifiers came in. */
  gate?: { destination: string; references: readonly string[]; identifierHashes: readonly string[] };
}

/** A request held for review, as the decision on it finds it (Art. 9(4)). */
export interface HeldReview {
  record: ReviewRecord | null;
  /** The held message opened and verified again from its stored JWE; `unavailable`: it cannot be. */
  opened?: { envelope: Envelope; verification: OpenFacts } | 'unavailable';
  /** The decision asked about was carried out before. */
  done: boolean;
}

/** The facts a decision is taken on: configuration, directory, clock, and what was looked up. */
export interface Facts {
  readonly config: Config;
  /** Art. 13: this party's listed authorities. */
  readonly ownAuthorities: ReadonlySet<string>;
  /** Art. 13: the peer's directory in force. */
  readonly peerAuthorities: ReadonlySet<string>;
  readonly now: Date;
  readonly provided: ReadonlyMap<string, ProvidedRecord | null>;
  readonly received: ReadonlyMap<string, ReceivedRecord | null>;
  readonly seen: ReadonlyMap<string, SeenRecord | null>;
  readonly sent: ReadonlyMap<string, SentRecord | null>;
  readonly suspensions: readonly SuspensionEntry[];
  readonly suspension: SuspensionEntry | undefined;
  /** Art. 18: the termination notified by either party, if any. */
  readonly termination: Termination | null;
  readonly review: HeldReview | undefined;
  /** `kind:id` of the obligations met before, among those asked about. */
  readonly met: ReadonlySet<string>;
  /** Art. 11(2): the provider's consents (by the message they cover), and where identifiers came from (by hash). */
  readonly gate: {
    consents: ReadonlyMap<string, GateConsent | undefined>;
    origins: ReadonlyMap<string, readonly string[]>;
  };
}

/** One thing to do, idempotent, carried out by src/pipeline/execute.ts in the order given. */
export type Effect =
  /** Art. 10(6): a record, written (fsync'ed) before the ack. */
  | { type: 'audit'; record: AuditInput }
  /** What this party provided, for later corrections, usage reports and the termination. */
  | { type: 'provided'; record: ProvidedRecord }
  /** Art. 10(1), 11(2): a consent request sent, and the answer to one received. */
  | { type: 'consent-requested'; id: string; at: string }
  | { type: 'consent-answered'; requestId: string }
  /** Art. 10(5): a message from the peer is now in an authority's hands (ledger; destruction deadline). */
  | { type: 'held-by'; envelope: Envelope; authority: string; receivedAt: string }
  | { type: 'erasure-noted'; id: string; erasureId: string }
  | { type: 'destroyed'; id: string; at: string; reason: string }
  /** Art. 18: the agreement ends at `effectiveAt`; destroy orders go out then. */
  | { type: 'terminate'; termination: Termination; authority: string }
  | { type: 'schedule'; deadline: Deadline }
  | { type: 'satisfy'; kind: DeadlineKind; id: string }
  | { type: 'suspension'; entry: SuspensionEntry }
  | { type: 'directory-pending'; update: PendingDirectoryUpdate }
  /** Art. 11(2): the keyed hashes of the identifiers received in a message, and a consent to pass it on. */
  | { type: 'identifiers'; messageId: string; hashes: string[]; ttlS: number }
  | { type: 'consent'; reference: string; destination: string; validUntil: string; consentId: string }
  | { type: 'review-hold'; record: Omit<ReviewRecord, 'state'>; ttlS: number }
  /** A signed notice about a request, from the addressed authority to the requester. */
  | { type: 'notice'; request: EnvelopeOf<'request'>; what: string; content: NoticeContent }
  /** Art. 10(4), 10(5): the recipient's signed confirmation to the provider. */
  | { type: 'confirmation'; from: string; to: string; body: EnvelopeOf<'confirmation-notice'>['body'] }
  /** The peer has our announced key: it becomes the one in use. */
  | { type: 'key-receipted'; id: string }
  /** Art. 9(4): the decision on a held request has been carried out (after the commit). */
  | { type: 'review-done'; id: string; decisionId: string }
  | { type: 'refused'; grounds: readonly string[]; facts: RefusalFacts }
  /** Counted for /metrics. */
  | { type: 'count'; direction: 'in' | 'out'; kind: string; outcome: string }
  | { type: 'log'; level: 'info' | 'warn'; fields: Record<string, unknown>; message: string };

/** A status event for one of this party's authorities. */
export interface EventTo {
  authority: string;
  event: StatusEvent;
}

/** Sending a case system's submission of kind K to the peer. */
export interface SendSpec<K extends SubmittableKind> {
  /** Art. 13, 17, 18: only the authorities in `treaty.notifyingAuthorities` may send it. */
  notifying?: true;
  /** What its checks need looked up. */
  lookups?(sub: SubmissionOf<K>): Lookups;
  /** The checks before anything is sealed; throws an AccordError that rejects the submission. */
  check?(sub: SubmissionOf<K>, facts: Facts): void;
  /** What travels signed, when not the submission's kind and body as they stand. */
  content?(sub: SubmissionOf<K>): { kind: MessageKind; body: unknown };
  /** Done before the sealed message is published, so that its receipt finds it. */
  prepare?(sub: SubmissionOf<K>, id: string, facts: Facts): Effect[];
  /** Done once it is sent (again after a crash): the obligations it meets, what the records keep. */
  sent?(sub: SubmissionOf<K>, id: string, sentAt: string): Effect[];
  /** Kept with the ledger's record of what was provided (Art. 18: the diplomatic note). */
  provided?(sub: SubmissionOf<K>): Pick<ProvidedRecord, 'note'>;
  /** Counted when it is sent the first time. */
  counted?(sub: SubmissionOf<K>, id: string): Effect[];
}

/** What is known when a message from the peer is taken in. */
export interface Intake {
  /** The authority that gets it. */
  target: string;
  receivedAt: string;
  facts: Facts;
}

/** Taking in a message of kind K from the peer. */
export interface ReceiveSpec<K extends MessageKind> {
  /**
   * Gateway to gateway. Handed to the key lifecycle before the delivery is claimed (one the
   * key policy refuses is parked), recorded, and never delivered to an authority. Returns the message
   * as the key lifecycle takes it.
   */
  keyChange?(env: EnvelopeOf<K>): EnvelopeOf<'key-announcement' | 'key-revocation'>;
  /**
   * Reception awareness: the peer's signed receipt for a message this gateway sent; it is checked
   * against the sent record and reported, never delivered. Returns the receipt as that step takes it.
   */
  receipt?(env: EnvelopeOf<K>): EnvelopeOf<'receipt'>;
  /**
   * Gateway liveness: noted and acked at once — no claim, no receipt, no record, no delivery. Returns
   * the heartbeat as that step takes it.
   */
  heartbeat?(env: EnvelopeOf<K>): EnvelopeOf<'heartbeat'>;
  /** Art. 10(4): the message it refers to, which must have arrived first (else it is held). */
  original?(env: EnvelopeOf<K>): string;
  /** Art. 9(2): the authority competent for it, when that may differ from the one addressed. */
  route?(env: EnvelopeOf<K>, config: Config): string;
  /**
   * Art. 9(4), 17: screened (rules, suspension, hooks) before anything of it is delivered; returns the
   * request as the screening takes it.
   */
  screened?(env: EnvelopeOf<K>): EnvelopeOf<'request'>;
  /** What its effects or events need looked up. */
  lookups?(env: EnvelopeOf<K>): Lookups;
  /** What taking it in starts (also when it is held for review): records, notices, deadlines. */
  taken?(env: EnvelopeOf<K>, intake: Intake): Effect[];
  /** What its delivery to an authority starts: the obligations and deadlines of Art. 10(3)–(5), 18. */
  delivered?(env: EnvelopeOf<K>, intake: Intake): Effect[];
  /** The events its delivery raises (a notice tells the requester what became of its request). */
  events?(env: EnvelopeOf<K>, intake: Intake): EventTo[];
}

/** What the peer's signed receipt for a message of kind K that we sent sets off. */
export interface ReceiptedSpec {
  /** Gateway to gateway; no authority is told. */
  untold?: true;
  /** What the effects need looked up. */
  lookups?(id: string): Lookups;
  /** What the receipt sets off, given when the peer received the message. */
  effects?(sent: SentRecord & { id: string }, receivedAt: string, facts: Facts): Effect[];
}

/** Everything about one kind. */
export interface KindSpec<K extends MessageKind> {
  /** The articles of the agreement it serves, e.g. `Art. 17`. */
  articles: string;
  send?: [K] extends [SubmittableKind] ? SendSpec<K> : never;
  receive?: ReceiveSpec<K>;
  receipted?: ReceiptedSpec;
}

/** The specs of a family of kinds, by kind. */
export type KindSpecs<K extends MessageKind> = { [P in K]: KindSpec<P> };

/** A message to one of this party's own queues, as a decision describes it. */
export type Delivery =
  /** To an authority's inbox (or, held for a person's decision, its review queue). */
  | { to: 'inbox' | 'review'; authority: string; delivery: InboxDelivery }
  /** Art. 11(2): through the export gate. */
  | { to: 'export'; destination: string; messageId: string; record: unknown };

/** What is done with a submission the gateway keeps itself. */
export type LocalDecision =
  /** Rejected; `effects` (an Art. 10(6) record of a blocked export) are carried out before the rejection commits. */
  | { action: 'reject'; error: AccordError; effects?: Effect[] }
  /** Carried out before: the client is told it is a duplicate. */
  | { action: 'duplicate' }
  /**
   * Art. 9(4): take the decision claim on review `id` first (atomic in the review store), then decide
   * on how that turned out.
   */
  | {
      action: 'claim-review';
      id: string;
      decision: string;
      then(outcome: DecideOutcome): LocalDecision;
    }
  | {
      action: 'carry-out';
      /** Before the commit, in order. */
      effects: Effect[];
      /** Committed with the ack. */
      deliveries: Delivery[];
      events: EventTo[];
      /** After the commit. */
      after: Effect[];
    };

/**
 * A submission a case system publishes to the outbox that the gateway keeps instead of sealing it for
 * the peer as it stands: an export, the record of an oral request, a review decision, a confirmation.
 */
export interface LocalSpec<S extends { kind: string; from: string; idempotencyKey: string }> {
  articles: string;
  schema: z.ZodType<S>;
  /** What the decision needs looked up; `id` is the submission's own message id. */
  lookups?(s: S, id: string, config: Config): Lookups;
  /** The decision (pure). `redelivered`: the broker delivered this submission before. */
  decide(s: S, id: string, facts: Facts, redelivered: boolean): LocalDecision;
}
