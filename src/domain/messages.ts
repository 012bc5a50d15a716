/**
 * The message kinds and their bodies. One schema per kind; strict objects everywhere, because zod
 * strips unknown keys by default and a field the receiver never sees is a field nobody checked.
 */
import { z } from 'zod';
import { AssistanceType, CrimeCategory, InformationType, RefusalGround } from './categories.js';
import { AuthorityId, Text, Timestamp } from './common.js';

/**
 * Identifying data of one person (data subject). Art. 10 applies to everything in it. The data that
 * Art. 10(2) allows only when necessary has explicit fields (see {@link SENSITIVE_FIELDS}), so the
 * gateway can tell when a message carries it.
 */
export const Person = z.strictObject({
  familyName: Text(200),
  givenNames: Text(200).optional(),
  dateOfBirth: z.iso.date().optional(),
  placeOfBirth: Text(200).optional(),
  aliases: z.array(Text(200)).max(20).optional(),
  /** Art. 10(2): citizenship(s), ISO 3166-1 alpha-2 or alpha-3. */
  nationality: z
    .array(z.string().regex(/^[A-Z]{2,3}$/, 'ISO 3166-1 alpha-2 or alpha-3'))
    .min(1)
    .max(5)
    .optional(),
  ethnicOrigin: Text(500).optional(),
  politicalOpinions: Text(1000).optional(),
  religion: Text(500).optional(),
  philosophicalBeliefs: Text(1000).optional(),
  criminalConvictions: z.array(Text(1000)).min(1).max(50).optional(),
  health: Text(2000).optional(),
  sexLife: Text(1000).optional(),
});

/** Which field of a {@link Person} carries which Art. 10(2) category. */
export const SENSITIVE_FIELDS = {
  nationality: 'nationality',
  ethnicOrigin: 'ethnic-origin',
  politicalOpinions: 'political-opinions',
  religion: 'religion',
  philosophicalBeliefs: 'philosophical-beliefs',
  criminalConvictions: 'criminal-convictions',
  health: 'health',
  sexLife: 'sex-life',
} as const;
export type Person = z.infer<typeof Person>;

/** Art. 6(1): the kinds of travel document. */
export const TravelDocumentType = z.enum([
  'passport',
  'diplomatic-passport',
  'service-passport',
  'identity-card',
  'travel-document',
  'visa',
  'residence-permit',
  'other',
]);

/** Art. 6(1): lost or stolen, stolen blank, or revoked. */
export const TravelDocumentStatus = z.enum(['lost', 'stolen', 'stolen-blank', 'revoked']);

const DocumentNumber = z.string().regex(/^[A-Z0-9<-]{1,32}$/, 'upper-case letters, digits, < or -, up to 32');

/** Art. 6(2): at a minimum the number, type and reported status of the document. */
export const TravelDocument = z.strictObject({
  number: DocumentNumber,
  type: TravelDocumentType,
  status: TravelDocumentStatus,
  issuingState: z
    .string()
    .regex(/^[A-Z]{2,3}$/, 'ISO 3166-1 alpha-2 or alpha-3')
    .optional(),
  reportedOn: z.iso.date().optional(),
});
export type TravelDocument = z.infer<typeof TravelDocument>;

/** A document asked about in a request: the status is what the requester wants to learn. */
export const TravelDocumentQuery = z.strictObject({
  number: DocumentNumber,
  type: TravelDocumentType,
  issuingState: z
    .string()
    .regex(/^[A-Z]{2,3}$/, 'ISO 3166-1 alpha-2 or alpha-3')
    .optional(),
});

const MessageId = z.uuid();

/** Art. 9(1): a written (electronic) request for information or assistance. */
export const RequestBody = z.strictObject({
  crimeCategories: z.array(CrimeCategory).min(1).max(16),
  informationTypes: z.array(InformationType).min(1).max(16),
  assistanceTypes: z.array(AssistanceType).max(8).default([]),
  summary: Text(500),
  details: Text(20_000).optional(),
  /** Art. 9(2) "without any undue delay": when the reply is due; the requested side is alerted after. */
  replyBy: Timestamp.optional(),
  /** Art. 9(1): the id of the oral-request record this written request confirms. */
  confirmsOral: z.uuid().optional(),
  persons: z.array(Person).max(100).optional(),
  travelDocuments: z.array(TravelDocumentQuery).max(100).optional(),
});

/** Art. 9(2): the reply to a request. */
export const ReplyBody = z.strictObject({
  inReplyTo: MessageId,
  summary: Text(500),
  details: Text(20_000).optional(),
  persons: z.array(Person).max(100).optional(),
  travelDocuments: z.array(TravelDocument).max(1000).optional(),
});

/** Art. 9(2): the requested authority asks for further information needed to meet a request. */
export const FurtherInfoRequestBody = z.strictObject({
  inReplyTo: MessageId,
  questions: z.array(Text(2000)).min(1).max(20),
});

/**
 * Art. 9(3): information given without a request, where it may help the other party avert a threat
 * to public order or security, or prevent or detect criminal offences.
 */
export const SpontaneousBody = z.strictObject({
  crimeCategories: z.array(CrimeCategory).min(1).max(16),
  informationTypes: z.array(InformationType).min(1).max(16),
  summary: Text(500),
  details: Text(20_000).optional(),
  persons: z.array(Person).max(100).optional(),
  travelDocuments: z.array(TravelDocument).max(1000).optional(),
});

/** Art. 6: information on lost, stolen, stolen blank or revoked travel documents. */
export const TravelDocumentBody = z.strictObject({
  documents: z.array(TravelDocument).min(1).max(1000),
  note: Text(2000).optional(),
});

/** Art. 7 with Art. 4(1), 4(2): a missing or otherwise searched person. */
export const PersonSearchBody = z.strictObject({
  reason: z.enum(['missing', 'suspect', 'evading-prosecution', 'evading-sentence', 'identification']),
  person: Person,
  crimeCategories: z.array(CrimeCategory).max(16).optional(),
  summary: Text(500),
  lastKnownLocation: Text(500).optional(),
});

/** Art. 9(4): a refusal, in full or in part, decided by the requested authority's case system. */
export const RefusalBody = z
  .strictObject({
    /** The refused request. */
    inReplyTo: MessageId,
    scope: z.enum(['full', 'partial']),
    /** For a partial refusal: the parts refused. */
    parts: z.array(Text(500)).min(1).max(50).optional(),
    grounds: z.array(RefusalGround).min(1).max(5),
    /** What the requester is told, in writing (Art. 9(5)). */
    explanation: Text(2000),
  })
  .refine((b) => b.scope === 'full' || b.parts !== undefined, {
    path: ['parts'],
    message: 'a partial refusal names the parts refused',
  });

/** Art. 9(5): the signed written notice of a refusal, whoever decided it. */
export const RefusalNoticeBody = z.strictObject({
  inReplyTo: MessageId,
  scope: z.enum(['full', 'partial']),
  parts: z.array(Text(500)).min(1).max(50).optional(),
  grounds: z.array(RefusalGround).min(1).max(5),
  explanation: Text(2000),
  /** Who refused: a rule of the config, a plug-in hook, a person in review, or the authority's case system. */
  decidedBy: z.strictObject({
    kind: z.enum(['rule', 'hook', 'person', 'authority']),
    ref: Text(200).optional(),
  }),
});

/** A third state or international organisation named in the config (Art. 11(2)). */
export const DestinationId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{1,62}$/, 'lower-case letters, digits and dashes');

/**
 * Art. 10(1), 11(2): asks the provider for written consent to use received information for another
 * purpose or to provide it to a third state or international organisation.
 */
export const ConsentRequestBody = z.strictObject({
  /** The provider's messages the request is about. */
  references: z.array(MessageId).min(1).max(100),
  /** Where the information would go (Art. 11(2)); empty for a request about purposes only (Art. 10(1)). */
  destinations: z.array(DestinationId).max(20),
  purpose: Text(1000),
});

/** The provider's written answer to a consent request (Art. 10(1), 11(2)). */
export const ConsentBody = z.strictObject({
  inReplyTo: MessageId.optional(),
  references: z.array(MessageId).min(1).max(100),
  destinations: z.array(DestinationId).max(20),
  granted: z.boolean(),
  /** Consent is not forever: it covers exports until this time. */
  validUntil: Timestamp,
  conditions: z.array(Text(1000)).max(20).default([]),
});

/** Art. 11(2): information leaving Accord for a third state or international organisation. */
export const ExportBody = z.strictObject({
  destination: DestinationId,
  /** Messages received from the peer that this export passes on (each needs the provider's consent). */
  references: z.array(MessageId).max(100).default([]),
  summary: Text(500),
  details: Text(20_000).optional(),
  persons: z.array(Person).max(100).optional(),
  travelDocuments: z.array(TravelDocument).max(1000).optional(),
});

/**
 * Art. 9(2): "Should the authority which has received the request for assistance not be the competent
 * authority to deal with this request, it shall refer the request to the authority which is competent."
 * The receiving gateway's signed notice to the requester that it did so.
 */
export const ReferralNoticeBody = z.strictObject({
  inReplyTo: MessageId,
  /** The authority the request was addressed to. */
  referredFrom: z.string().max(63),
  /** The competent authority that received it instead, and will answer. */
  referredTo: z.string().max(63),
});

/**
 * Art. 17: "Either Contracting Party may suspend the implementation of this Agreement in full or
 * partially should the concerns of security of its State, public order or public health require so."
 * The notice of a suspension or of its revocation; it takes effect fifteen days after the other party
 * received it.
 */
export const SuspensionNoticeBody = z.strictObject({
  action: z.enum(['suspend', 'resume']),
  /** `all`, or the Art. 2 crime categories whose requests are suspended (or resumed). */
  scope: z.union([
    z.literal('all'),
    z.strictObject({ crimeCategories: z.array(CrimeCategory).min(1).max(16) }),
  ]),
  grounds: z
    .array(z.enum(['security', 'public-order', 'public-health']))
    .min(1)
    .max(3),
  reason: Text(2000),
});
export type SuspensionNoticeBody = z.infer<typeof SuspensionNoticeBody>;

/** One competent authority and its contacts (Art. 13(1), 13(2)), as listed in a directory. */
export const DirectoryEntry = z.strictObject({
  id: AuthorityId,
  name: Text(200),
  contact: z
    .strictObject({
      email: z.email().optional(),
      phone: z.string().max(40).optional(),
      address: Text(500).optional(),
      /** A contact person who knows the other party's language or English (Art. 13(2)). */
      person: Text(200).optional(),
    })
    .default({}),
});

/**
 * Art. 13(1): "The Contracting Parties shall notify each other … of the competent authorities". A
 * party's whole directory, sent in-band; the receiving gateway applies it only once an operator has
 * approved it (`accord directory approve`), until then the old directory holds.
 */
export const DirectoryUpdateBody = z.strictObject({
  authorities: z.array(DirectoryEntry).min(1).max(500),
  /** Why the directory changed, for the approving operator. */
  reason: Text(2000),
});

/**
 * Art. 9(4): the requested party accepted a request on conditions that bind the requester; the signed
 * notice carries them (and they are repeated in `handling.conditions`).
 */
export const AcceptanceNoticeBody = z.strictObject({
  inReplyTo: MessageId,
  conditions: z.array(Text(1000)).min(1).max(20),
  decidedBy: z.strictObject({ kind: z.enum(['person', 'hook']), ref: Text(200).optional() }),
});

/**
 * Art. 10(4): the provider found personal data it provided incorrect; the corrected data replace it.
 * Never delivered before the message it corrects (the receiving gateway holds it until then); the
 * recipient confirms it applied the correction (`correction-confirmed`).
 */
export const CorrectionBody = z.strictObject({
  /** The earlier message of this provider that the correction is about. */
  refersTo: MessageId,
  reason: Text(2000),
  /** What is wrong, in words, and the corrected data (which replace the data of the same persons). */
  details: Text(20_000).optional(),
  persons: z.array(Person).max(100).optional(),
  travelDocuments: z.array(TravelDocument).max(1000).optional(),
});

/**
 * Art. 10(4): personal data that should not have been provided; the recipient destroys them and
 * confirms (`destruction-confirmed` with reason `erasure`). Held like a correction until the original
 * has arrived.
 */
export const ErasureBody = z.strictObject({
  refersTo: MessageId,
  reason: Text(2000),
  /** `all` of the referred message's personal data, or the parts named. */
  scope: z.union([z.literal('all'), z.strictObject({ parts: z.array(Text(500)).min(1).max(50) })]),
});

/** Art. 10(3): the provider asks how the personal data it provided were used, and with what result. */
export const UsageReportRequestBody = z.strictObject({
  /** Messages of this provider that the report is about. */
  references: z.array(MessageId).min(1).max(100),
  question: Text(2000),
  /** When the report is due; the configured number of days after receipt when absent. */
  answerBy: Timestamp.optional(),
});

/** Art. 10(3): the recipient's report on the use of the personal data provided and its results. */
export const UsageReportBody = z.strictObject({
  /** The usage-report-request answered. */
  inReplyTo: MessageId,
  use: Text(5000),
  results: Text(5000).optional(),
});

/**
 * Art. 18(2): notice that this party terminates the agreement. It ends six months after the other
 * party receives the written notice via diplomatic channels; this signed message mirrors that note and
 * starts the same clock on both gateways, after which all personal data received are destroyed
 * (Art. 10(5)).
 */
export const TerminationNoticeBody = z.strictObject({
  /** The reference of the diplomatic note that carries the termination. */
  diplomaticNote: Text(200),
  reason: Text(2000).optional(),
});

/**
 * Art. 10(4), 10(5): the recipient's signed confirmation that it corrected or destroyed personal data
 * (always for a correction or an erasure; for a destruction when `dataProtection.destruction.notifyProvider`).
 */
export const ConfirmationNoticeBody = z.strictObject({
  /** The provider's message concerned: the correction, or the message whose data were destroyed. */
  refersTo: MessageId,
  action: z.enum(['corrected', 'destroyed']),
  reason: z.enum(['correction', 'deadline', 'no-longer-needed', 'erasure', 'termination']),
  at: Timestamp,
});

/** A public JWK as it travels in a key announcement; checked against the strict JWK schemas before use. */
const AnnouncedJwk = z.record(z.string().max(32), z.unknown());

/**
 * A gateway announces its next key(s), signed with its key in force, so the peer pins them
 * without a new out-of-band exchange. The announcing gateway makes a key active once the peer's receipt
 * for the announcement arrives (or at `activateAt`); the keys it replaces keep working through the
 * overlap window.
 */
export const KeyAnnouncementBody = z.strictObject({
  keys: z.array(AnnouncedJwk).min(1).max(4),
  /** RFC 7638 thumbprints of `keys`, in order: the same values `accord keys export` prints. */
  thumbprints: z
    .array(z.string().regex(/^[A-Za-z0-9_-]{43}$/))
    .min(1)
    .max(4),
  activateAt: Timestamp.optional(),
});

/** A gateway revoked one of its keys; from receipt on, the peer accepts nothing under it. */
export const KeyRevocationBody = z.strictObject({
  kid: z.string().min(1).max(128),
  use: z.enum(['sig', 'enc']),
  reason: Text(500),
  revokedAt: Timestamp,
});

/**
 * Gateway liveness, not a message of the agreement: sent to the peer gateway every
 * `alerts.heartbeatIntervalS` while the peer link is up, so that the peer notices a gateway that is
 * down while its broker still answers. Carries no personal data; nothing reaches an authority.
 */
export const HeartbeatBody = z.strictObject({
  /** How often the sender sends one, in seconds. */
  intervalS: z.int().min(1).max(3600),
});

/** The receiving gateway's signed acknowledgement of one sealed message (reception awareness). */
export const ReceiptBody = z.strictObject({
  forMessageId: MessageId,
  /** SHA-256 (hex) of the exact JWE compact string the receiver took in. */
  jweSha256: z.string().regex(/^[0-9a-f]{64}$/),
  receivedAt: Timestamp,
  /**
   * `refused`: taken in, and answered with a refusal notice instead of a delivery (Art. 9(4));
   * `in-review`: taken in and held for a person's decision (Art. 9(4)); a notice or a reply follows;
   * `held`: a correction or erasure taken in before the message it refers to, delivered once that has
   * arrived (Art. 10(4)).
   */
  status: z.enum(['delivered', 'duplicate', 'refused', 'in-review', 'held']),
  /**
   * Art. 10(6): the hash of the receiver's latest signed audit checkpoint, so that each party holds an
   * anchor of the other's records (a later truncation of that log shows against it).
   */
  auditAnchor: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
});

/** Kinds a case system may submit, with their bodies. */
export const SUBMITTABLE = {
  request: RequestBody,
  reply: ReplyBody,
  'travel-document': TravelDocumentBody,
  'person-search': PersonSearchBody,
  'further-info-request': FurtherInfoRequestBody,
  spontaneous: SpontaneousBody,
  refusal: RefusalBody,
  'consent-request': ConsentRequestBody,
  consent: ConsentBody,
  'suspension-notice': SuspensionNoticeBody,
  'directory-update': DirectoryUpdateBody,
  correction: CorrectionBody,
  erasure: ErasureBody,
  'usage-report-request': UsageReportRequestBody,
  'usage-report': UsageReportBody,
  'termination-notice': TerminationNoticeBody,
} as const;

/** Kinds only a gateway creates. */
export const GATEWAY_ONLY = {
  receipt: ReceiptBody,
  'refusal-notice': RefusalNoticeBody,
  'referral-notice': ReferralNoticeBody,
  'acceptance-notice': AcceptanceNoticeBody,
  'confirmation-notice': ConfirmationNoticeBody,
  'key-announcement': KeyAnnouncementBody,
  'key-revocation': KeyRevocationBody,
  heartbeat: HeartbeatBody,
} as const;

export type SubmittableKind = keyof typeof SUBMITTABLE;
export type MessageKind = SubmittableKind | keyof typeof GATEWAY_ONLY;
