/**
 * Art. 10(6): what goes into a record for a message — the purpose, the scope (categories and the
 * number of data subjects, never the data), the authorities — and which type of record it is.
 */
import type { Envelope } from '../domain/envelope.js';
import { personalDataIn } from '../policy/personal-data.js';
import type { AuditInput, AuditType } from './log.js';

/** The record type of a message provided to (`out`) or received from (`in`) the peer. */
export function recordTypeOf(kind: string, direction: 'out' | 'in'): AuditType {
  switch (kind) {
    case 'refusal':
    case 'refusal-notice':
      return 'refusal';
    case 'consent':
    case 'consent-request':
      return 'consent';
    case 'suspension-notice':
      return 'suspension';
    case 'termination-notice':
      return 'termination';
    case 'correction':
      return 'correction';
    case 'erasure':
      return 'erasure';
    case 'usage-report':
    case 'usage-report-request':
      return 'usage-report';
    case 'confirmation-notice':
      return 'destruction';
    case 'key-announcement':
    case 'key-revocation':
      return 'key-operation';
    default:
      return direction === 'out' ? 'provision' : 'receipt';
  }
}

/** The scope of a message's content for its record: purposes, categories, how many data subjects. */
export function scopeOf(env: Envelope): Pick<AuditInput, 'purposes' | 'categories' | 'subjectCount'> {
  const body = env.body as { crimeCategories?: string[]; informationTypes?: string[] };
  const { subjects, documents } = personalDataIn(env.kind, env.body);
  const categories = [
    ...(body.crimeCategories ?? []),
    ...(body.informationTypes ?? []),
    ...(env.handling.sensitive ?? []).map((c) => `sensitive:${c}`),
    ...(documents > 0 ? [`travel-documents:${documents}`] : []),
  ];
  return {
    purposes: [...env.handling.purposes],
    ...(categories.length > 0 ? { categories: [...new Set(categories)].slice(0, 50) } : {}),
    subjectCount: subjects,
  };
}

/** The record of one message provided to or received from the peer. */
export function messageRecord(
  env: Envelope,
  direction: 'out' | 'in',
  extra: Partial<AuditInput> = {},
): AuditInput {
  const b = env.body as {
    inReplyTo?: string;
    refersTo?: string;
    grounds?: string[];
    decidedBy?: { kind: string; ref?: string };
    action?: string;
    reason?: string;
  };
  const ref = b.refersTo ?? b.inReplyTo;
  // Grounds and enumerated reasons only: free text (explanations) may name people.
  const reason =
    b.grounds !== undefined
      ? `grounds: ${b.grounds.join(', ')}`
      : env.kind === 'confirmation-notice'
        ? `${b.action ?? ''} (${b.reason ?? ''})`
        : undefined;
  const type =
    env.kind === 'confirmation-notice' && b.action === 'corrected'
      ? 'correction'
      : recordTypeOf(env.kind, direction);
  return {
    type,
    messageId: env.id,
    kind: env.kind,
    ...scopeOf(env),
    fromAuthority: `${env.from.party}/${env.from.authority}`,
    toAuthority: `${env.to.party}/${env.to.authority}`,
    ...(env.handling.destroyBy === undefined ? {} : { destroyBy: env.handling.destroyBy }),
    ...(ref === undefined ? {} : { refersTo: ref }),
    ...(reason === undefined ? {} : { reason }),
    ...(b.decidedBy === undefined
      ? {}
      : { decidedBy: `${b.decidedBy.kind}${b.decidedBy.ref === undefined ? '' : ` ${b.decidedBy.ref}`}` }),
    ...extra,
  };
}
