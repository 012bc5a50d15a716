/**
 * The message kinds and their bodies. One schema per kind; strict objects everywhere, because zod
 * strips unknown keys by default and a field the receiver never sees is a field nobody checked.
 */
import { z } from 'zod';
import { AssistanceType, CrimeCategory, InformationType } from './categories.js';
import { Text, Timestamp } from './common.js';

/** Identifying data of one person (data subject). Art. 10 applies to everything in it. */
export const Person = z.strictObject({
  familyName: Text(200),
  givenNames: Text(200).optional(),
  dateOfBirth: z.iso.date().optional(),
  placeOfBirth: Text(200).optional(),
  aliases: z.array(Text(200)).max(20).optional(),
});
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
  replyBy: Timestamp.optional(),
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

/** The receiving gateway's signed acknowledgement of one sealed message (reception awareness). */
export const ReceiptBody = z.strictObject({
  forMessageId: MessageId,
  /** SHA-256 (hex) of the exact JWE compact string the receiver took in. */
  jweSha256: z.string().regex(/^[0-9a-f]{64}$/),
  receivedAt: Timestamp,
  status: z.enum(['delivered', 'duplicate']),
});

/** Kinds a case system may submit, with their bodies. */
export const SUBMITTABLE = {
  request: RequestBody,
  reply: ReplyBody,
  'travel-document': TravelDocumentBody,
  'person-search': PersonSearchBody,
} as const;

/** Kinds only a gateway creates. */
export const GATEWAY_ONLY = { receipt: ReceiptBody } as const;

export type SubmittableKind = keyof typeof SUBMITTABLE;
export type MessageKind = SubmittableKind | keyof typeof GATEWAY_ONLY;
