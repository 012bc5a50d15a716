/**
 * Every failure Accord reports carries one stable code from this list. Codes are part of the public
 * interface (events, dead letters, CLI exit messages) and are documented in docs/errors.md; a test fails
 * when one is missing there. An error never carries message content or key material: only ids, kid,
 * stage and the path of the offending field.
 */
export const ERROR_CODES = {
  'input.not_json': 'The message body is not valid UTF-8 JSON.',
  'input.too_large': 'The message is larger than the configured limit.',
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
  'keys.expiring': 'A key expires within keys.expiryWarningDays (warning) or has expired (error); rotate it.',
  'keys.thumbprint_mismatch':
    'A JWK Set to import does not have exactly the RFC 7638 thumbprints checked out of band.',
  'keys.announcement_not_accepted':
    'The peer announced or revoked a key in-band, and keys.acceptAnnouncements is off: security staff pin keys by hand (accord keys import-peer).',
  'keys.unknown_kid': 'The key lifecycle command names a kid that is not in the key sets.',
  'envelope.wrong_recipient': 'The signed envelope names another recipient than this gateway’s party.',
  'envelope.wrong_sender': 'The signed envelope names another sender party than the pinned peer.',
  'envelope.expired': 'The envelope’s expiry time has passed.',
  'envelope.not_yet_valid': 'The envelope was created in the future beyond the allowed clock leeway.',
  'receipt.unknown_message': 'A receipt names a message this gateway has no record of sending.',
  'receipt.digest_mismatch': 'A receipt’s SHA-256 does not match the JWE this gateway sent.',
  'delivery.no_receipt': 'No signed receipt came back after the last resend; the message is parked.',
  'delivery.poison': 'Processing failed the same way repeatedly; the message is parked for an admin.',
  'config.invalid': 'The configuration file is missing, unreadable or invalid.',
  'keys.invalid': 'A key file is missing, unreadable, too large or not a valid JWK Set.',
  'infra.unavailable':
    'RabbitMQ or Redis cannot be reached or is misconfigured, or a crypto worker was stuck or died; retried.',
  'internal.error': 'An unexpected failure; the message was not processed and is kept for an admin.',
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

/** Any thrown value as an AccordError; unknown failures become `internal.error` with no detail. */
export function asAccordError(err: unknown): AccordError {
  if (err instanceof AccordError) return err;
  return new AccordError('internal.error', ERROR_CODES['internal.error'], { cause: err });
}
