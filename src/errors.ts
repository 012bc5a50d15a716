/**
 * Every failure Accord reports carries one stable code from this list. Codes are part of the public
 * interface (events, dead letters, CLI exit messages) and are documented in docs/errors.md; a test fails
 * when one is missing there. An error never carries message content or key material: only ids, kid,
 * stage and the path of the offending field.
 */
export const ERROR_CODES = {
  'input.not_json': 'The message body is not valid UTF-8 JSON.',
  'input.too_large': 'The message is larger than the configured limit.',
  'input.invalid':
    'An option or query parameter of an operator command or admin request is invalid; the message names it.',
  'schema.invalid': 'The message does not match its schema; `path` names the first offending field.',
  'auth.unknown_authority': 'The sending authority is not listed in this party’s directory (Art. 13).',
  'auth.unknown_recipient': 'The recipient authority is not listed in the peer’s directory (Art. 13).',
  'auth.sender_mismatch':
    'The submission claims another authority than the one whose broker user published it (AMQP user_id).',
  'auth.user_id_missing':
    'The submission carries no AMQP user_id, which this gateway requires (access.submitters).',
  'auth.wrong_party': 'A party named in the message is not the one this gateway or its peer stands for.',
  'policy.language_not_agreed': 'Art. 9(6): the language is not English nor one agreed in the config.',
  'policy.sensitive_without_necessity':
    'Art. 10(2): the message carries a sensitive category of personal data without a necessity statement.',
  'policy.sensitive_flags_mismatch': 'Art. 10(2): the declared sensitive categories do not match the data.',
  'policy.sensitive_text_suspected':
    'Art. 10(2) warning: free text seems to describe sensitive data the gateway cannot check; the message was sent.',
  'policy.refused': 'Art. 9(4): the request was refused, in full or in part; the notice gives the grounds.',
  'policy.not_a_request': 'A refusal must refer to a request this authority received.',
  'policy.onward_transfer_blocked':
    'Art. 11(2): the export passes on information received from the peer without its unexpired written consent for that destination.',
  'policy.unknown_destination':
    'Art. 11(2): the destination is not a third state or organisation listed in the config.',
  'policy.consent_expired':
    'Art. 10(1), 11(2): a granted consent whose validUntil has already passed; it would cover nothing and is not sent.',
  'policy.review_unknown': 'Art. 9(4): no request is held for review under this id.',
  'policy.review_decided': 'Art. 9(4): the held request was already decided by another decision.',
  'policy.review_unavailable':
    'Art. 9(4): the held request can no longer be opened (its decryption key is gone); an admin must look.',
  'policy.hook_failed':
    'Art. 9(4): a refusal hook threw, timed out or answered an invalid verdict; the request went to manual review.',
  'auth.not_reviewer':
    'Art. 9(4): the decision comes from another authority than the one the request is held for.',
  'directory.update_pending':
    'Art. 13: the peer notified a new directory; it applies once an operator approves it (accord directory approve).',
  'directory.unknown_update': 'Art. 13: no pending directory update has this id.',
  'obligation.reply_overdue':
    'Art. 9(2): a request received with a reply date has not been answered (reply or refusal) by then.',
  'obligation.oral_confirmation_overdue':
    'Art. 9(1): an oral request has not been confirmed by a written request within the configured time.',
  'obligation.destruction_overdue':
    'Art. 10(5): a destroy order has not been confirmed (destruction-confirmed) within dataProtection.destruction.confirmGraceHours.',
  'obligation.correction_unconfirmed':
    'Art. 10(4): a correction has not been confirmed (correction-confirmed) within dataProtection.confirmCorrectionHours.',
  'obligation.erasure_unconfirmed':
    'Art. 10(4): an erasure has not been confirmed (destruction-confirmed, reason erasure) within dataProtection.confirmCorrectionHours.',
  'obligation.usage_report_overdue':
    'Art. 10(3): a usage-report-request has not been answered with a usage-report by its date.',
  'policy.destruction_deadline_missing':
    'Art. 10(5): the message carries personal data without the destruction deadline the provider must set.',
  'policy.destruction_deadline_invalid': 'Art. 10(5): the destruction deadline has already passed.',
  'policy.not_provided':
    'Art. 10(3), 10(4): the message referred to was not provided by this authority to the addressee.',
  'policy.not_received':
    'Art. 10(4), 10(5): the message referred to was not received by this authority, or carries no personal data to destroy.',
  'policy.not_a_usage_request':
    'Art. 10(3): a usage report must answer a usage-report-request this authority received.',
  'policy.original_missing':
    'Art. 10(4): a correction or erasure waited dataProtection.holdMaxHours for the message it refers to, which never arrived.',
  'policy.not_from_provider':
    'Art. 10(4): a correction or erasure comes from another authority than the one that provided the original.',
  'treaty.terminated':
    'Art. 18: the agreement has terminated; only confirmations of destruction still go out.',
  'treaty.suspended': 'Art. 17: requests in this scope are suspended; the suspension is in force.',
  'treaty.not_notifying_authority':
    'Art. 13, 17: only the authorities listed in treaty.notifyingAuthorities may notify a suspension or a directory.',
  'crypto.malformed': 'The sealed message is not a compact JWE of five base64url parts.',
  'crypto.header_invalid': 'A protected header is malformed or carries a parameter Accord refuses.',
  'crypto.alg_not_allowed': 'A JOSE algorithm is not on the configured allow-list.',
  'crypto.unknown_kid': 'No pinned key matches the `kid` (and use) named in the header.',
  'crypto.decrypt_failed': 'The JWE could not be decrypted (wrong key or tampered ciphertext).',
  'crypto.bad_signature': 'The inner JWS signature does not verify.',
  'crypto.key_revoked':
    'The key the header names was revoked (accord keys revoke); it is never accepted again.',
  'crypto.key_retired': 'The key the header names is retired: its overlap window after a rotation has ended.',
  'crypto.key_expired': 'No active key is inside its validity period; nothing is signed with an expired key.',
  'crypto.key_held':
    'The peer key the header names was announced in band and awaits an operator’s approval by thumbprint (accord keys approve); the message waits.',
  'keys.expiring': 'A key expires within keys.expiryWarningDays (warning) or has expired (error); rotate it.',
  'keys.thumbprint_mismatch':
    'A JWK Set to import does not have exactly the RFC 7638 thumbprints checked out of band.',
  'keys.announcement_not_accepted':
    'The peer announced or revoked a key in-band, and keys.acceptAnnouncements is off: security staff pin keys by hand (accord keys import-peer).',
  'keys.unknown_kid': 'The key lifecycle command names a kid that is not in the key sets.',
  'keys.kid_collision':
    'A key the peer announced or a peer set to import carries a kid that is already an own key, or a pinned key with another thumbprint.',
  'keys.last_usable_key':
    'accord keys revoke would revoke the last usable key of its side and use; the message says what would stop working. Repeat with --force to do it anyway.',
  'keys.state_missing':
    'key-state.json is missing while a key set holds more than one key of a use: the gateway does not guess which are revoked or retired.',
  'keys.kid_ambiguous':
    'The kid names both an own key and a pinned peer key: say which with --own or --peer (or give the thumbprint).',
  'envelope.wrong_recipient': 'The signed envelope names another recipient than this gateway’s party.',
  'envelope.wrong_sender': 'The signed envelope names another sender party than the pinned peer.',
  'envelope.expired': 'The envelope’s expiry time has passed.',
  'envelope.not_yet_valid': 'The envelope was created in the future beyond the allowed clock leeway.',
  'envelope.replayed':
    'A message this gateway took in before came again after its de-duplication record was lost; it is not delivered again.',
  'receipt.unknown_message': 'A receipt names a message this gateway has no record of sending.',
  'receipt.digest_mismatch': 'A receipt’s SHA-256 does not match the JWE this gateway sent.',
  'delivery.no_receipt': 'No signed receipt came back after the last resend; the message is parked.',
  'delivery.poison': 'Processing failed the same way repeatedly; the message is parked for an admin.',
  'admin.login_failed':
    'A console login gave a wrong token (logged with the client address, never the token).',
  'admin.login_throttled':
    'Too many failed console logins from one address within five minutes; it may try again after Retry-After.',
  'admin.csrf_refused':
    'A console form came without its session’s CSRF token or from another origin; nothing was done.',
  'config.invalid': 'The configuration file is missing, unreadable or invalid.',
  'config.broker_refused':
    'The broker refused the configured login (user, password or virtual host); retrying would not help.',
  'config.tls_unverified':
    'A broker TLS handshake failed on a certificate: the broker’s does not verify against the configured CA or name, or the broker refused this gateway’s.',
  'keys.invalid': 'A key file is missing, unreadable, too large or not a valid JWK Set.',
  'infra.unavailable':
    'RabbitMQ or Redis cannot be reached or is misconfigured, or a crypto worker was stuck or died; retried.',
  'infra.audit_unwritable':
    'Art. 10(6): the audit log cannot be written (a full disk, a read-only file); messages wait and nothing is acked without its record.',
  'audit.chain_broken':
    'Art. 10(6): the audit log does not verify (a record modified, deleted, reordered or cut off); the message names the first bad record.',
  'infra.webhook_failed':
    'An alert notification could not be posted to alerts.webhookUrl (refused or unreachable); it is retried with back-off, and after the last attempt the log line is its record.',
  'internal.error': 'An unexpected failure; the message was not processed and is kept for an admin.',
  'dlq.unknown_letter': 'No dead letter in accord.dlq has this reference.',
  'dlq.ambiguous_letter': 'Several dead letters match this reference; give the full reference `list` shows.',
  'dlq.not_replayable':
    'The dead letter cannot be replayed: its code or origin says a replay would fail the same way, it carries nothing to replay, or it is resolved.',
} as const;

/** A stable error code (see {@link ERROR_CODES}). */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Non-sensitive facts that may accompany an error. */
export interface ErrorFacts {
  /** Path of the offending field, e.g. `body.documents.0.status`. */
  path?: string;
  messageId?: string;
  kid?: string;
  /** The underlying failure; never serialised into events or dead letters. */
  cause?: unknown;
}

/** The one error class Accord throws on purpose; everything else is `internal.error`. */
export class AccordError extends Error {
  override readonly name = 'AccordError';
  readonly code: ErrorCode;
  readonly path: string | undefined;
  readonly messageId: string | undefined;
  readonly kid: string | undefined;

  constructor(code: ErrorCode, message: string = ERROR_CODES[code], facts: ErrorFacts = {}) {
    super(message, facts.cause === undefined ? undefined : { cause: facts.cause });
    this.code = code;
    this.path = facts.path;
    this.messageId = facts.messageId;
    this.kid = facts.kid;
  }

  /** The form that may leave the process (events, dead letters, CLI output). */
  toJSON(): { code: ErrorCode; message: string; path?: string; messageId?: string; kid?: string } {
    return {
      code: this.code,
      message: this.message,
      ...(this.path === undefined ? {} : { path: this.path }),
      ...(this.messageId === undefined ? {} : { messageId: this.messageId }),
      ...(this.kid === undefined ? {} : { kid: this.kid }),
    };
  }
}

/**
 * What happens to a message whose processing failed with a code — the one place that decides it, for
 * the consumers, the pipelines and the CLI:
 * - `reject`: the input is refused whole. A submission's authority gets a `rejected` event (or, when
 *   no listed authority can be told, a dead letter); a message from the peer is dead-lettered, since
 *   nothing in it can be trusted to name whom to tell.
 * - `park`: kept in `accord.dlq` for an admin. The consumer retries it a few times first
 *   (`delivery.poisonAttempts`), in case the failure passes, then parks it as `delivery.poison`.
 * - `retry-after`: the failure says nothing about the message (a broker or Redis outage); it waits
 *   {@link RETRY_DELAY_MS} and is tried again, for as long as the outage lasts.
 * - `wait-for-key`: nothing is signed with an expired key and nothing is dropped for want of one; the
 *   message waits {@link RETRY_DELAY_MS} and is tried again until a valid key is active.
 */
export type Disposition = 'reject' | 'park' | 'retry-after' | 'wait-for-key';

/** How long a message waits before it is tried again, by disposition. */
export const RETRY_DELAY_MS = { 'retry-after': 1000, 'wait-for-key': 5000 } as const;

/**
 * Exit codes of the `accord` command (DESIGN §4): 1 an operation was refused or failed (an unreachable
 * broker or Redis included: nothing is wrong with what the operator typed), 2 bad usage or configuration.
 */
export type ExitCode = 1 | 2;

type Family = ErrorCode extends `${infer F}.${string}` ? F : never;

/** By the code's family; {@link DISPOSITION_EXCEPTIONS} names the codes that differ from theirs. */
const DISPOSITION_BY_FAMILY: Record<Family, { disposition: Disposition; exit: ExitCode }> = {
  input: { disposition: 'reject', exit: 1 },
  schema: { disposition: 'reject', exit: 1 },
  auth: { disposition: 'reject', exit: 1 },
  policy: { disposition: 'reject', exit: 1 },
  treaty: { disposition: 'reject', exit: 1 },
  directory: { disposition: 'reject', exit: 1 },
  obligation: { disposition: 'park', exit: 1 },
  crypto: { disposition: 'park', exit: 1 },
  keys: { disposition: 'park', exit: 1 },
  envelope: { disposition: 'park', exit: 1 },
  receipt: { disposition: 'park', exit: 1 },
  delivery: { disposition: 'park', exit: 1 },
  config: { disposition: 'park', exit: 2 },
  // Refusals of the admin console (login, CSRF): never a message's fate; the operation failed.
  admin: { disposition: 'reject', exit: 1 },
  infra: { disposition: 'retry-after', exit: 1 },
  audit: { disposition: 'park', exit: 1 },
  internal: { disposition: 'park', exit: 1 },
  // Only the `accord dlq` command and the admin API raise these; nothing in a pipeline does.
  dlq: { disposition: 'reject', exit: 1 },
};

const DISPOSITION_EXCEPTIONS: Partial<Record<ErrorCode, { disposition: Disposition; exit: ExitCode }>> = {
  'crypto.key_expired': { disposition: 'wait-for-key', exit: 1 },
  // Finding 1 of the key-trust review: what a held key signed waits for the operator's decision, and
  // is parked as crypto.key_revoked if the key is revoked instead.
  'crypto.key_held': { disposition: 'wait-for-key', exit: 1 },
  // A key file is configuration: the command cannot run until it is fixed.
  'keys.invalid': { disposition: 'park', exit: 2 },
  'keys.state_missing': { disposition: 'park', exit: 2 },
  // What the operator typed: fix the option and run the command again.
  'input.invalid': { disposition: 'reject', exit: 2 },
};

function entry(code: ErrorCode): { disposition: Disposition; exit: ExitCode } {
  return DISPOSITION_EXCEPTIONS[code] ?? DISPOSITION_BY_FAMILY[code.slice(0, code.indexOf('.')) as Family];
}

/**
 * The key sets a seal takes its keys from (crypto/keyring.ts names them in `path`): when none of their
 * keys is usable — expired, or revoked with no successor — the message waits for a key, whatever the
 * code says about why. A revoked key named by a message from the peer has no such path: it is parked.
 */
const SEALING_KEY_SETS = new Set(['keys.own.sig', 'keys.peer.enc']);

/** Whether a failure means "no key to seal with now" (wait), rather than a refusal of the message. */
export function waitsForKey(err: AccordError): boolean {
  return (
    dispositionOf(err.code) === 'wait-for-key' ||
    (err.code === 'crypto.key_revoked' && err.path !== undefined && SEALING_KEY_SETS.has(err.path))
  );
}

/** What happens to a message that failed with `code`. */
export function dispositionOf(code: ErrorCode): Disposition {
  return entry(code).disposition;
}

/** The `accord` command's exit code for a failure with `code`. */
export function exitCodeOf(code: ErrorCode): ExitCode {
  return entry(code).exit;
}

/**
 * The disposition of anything thrown while a delivery was processed. An AccordError has its code's;
 * any other failure is infrastructure (`retry-after`) when the connections it needs were down at the
 * time or it is a connection failure by its type (see `isConnectionFailure`), and `park` otherwise.
 */
export function dispositionOfFailure(err: unknown, connectionsDown: boolean): Disposition {
  if (err instanceof AccordError) return waitsForKey(err) ? 'wait-for-key' : dispositionOf(err.code);
  return connectionsDown || isConnectionFailure(err) ? 'retry-after' : 'park';
}

/** Node's socket error numbers that mean the other end is not there (now). */
const CONNECTION_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTCONN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/** Error classes of ioredis and amqplib raised when a connection or channel is gone. */
const CONNECTION_ERROR_NAMES = new Set(['MaxRetriesPerRequestError', 'IllegalOperationError']);

/** Redis error replies (their first word is the protocol's error code) that pass on their own. */
const TRANSIENT_REDIS_REPLIES = new Set(['LOADING', 'MASTERDOWN', 'READONLY', 'TRYAGAIN', 'BUSY']);

/** A failure of a connection, known by its class, its errno or a Redis reply's error code. */
export function isConnectionFailure(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { name?: unknown; code?: unknown; message?: unknown };
  if (typeof e.name === 'string' && CONNECTION_ERROR_NAMES.has(e.name)) return true;
  if (typeof e.code === 'string' && CONNECTION_ERRNOS.has(e.code)) return true;
  if (e.name === 'ReplyError' && typeof e.message === 'string') {
    return TRANSIENT_REDIS_REPLIES.has(e.message.split(' ', 1)[0] ?? '');
  }
  return false;
}

/** Any thrown value as an AccordError; unknown failures become `internal.error` with no detail. */
export function asAccordError(err: unknown): AccordError {
  if (err instanceof AccordError) return err;
  return new AccordError('internal.error', ERROR_CODES['internal.error'], { cause: err });
}

/**
 * The broker returned a `mandatory` publish: nothing is bound to its routing key (no such queue, or a
 * peer that does not read what the key names). An outage like any other to the consumers.
 */
export class UnroutableError extends AccordError {
  constructor(readonly routingKey: string) {
    super('infra.unavailable', `queue ${routingKey} does not exist`);
  }
}
