/**
 * Art. 10(5): which messages carry personal data, and the destruction deadline the provider sets for
 * them. A data subject is a person in the body; a travel document's number identifies its holder, so
 * a message with documents carries personal data too (and needs a deadline), though no data subject is
 * counted for it.
 */
import type { Config } from '../config.js';
import type { Handling } from '../domain/envelope.js';
import { dataSubjects, sensitiveCategoriesOf } from './sensitive-data.js';
import { AccordError } from '../errors.js';

/** How much personal data a message carries: data subjects, and travel documents. */
export function personalDataIn(kind: string, body: unknown): { subjects: number; documents: number } {
  const docs = (body as { travelDocuments?: unknown[]; documents?: unknown[] }) ?? {};
  const documents =
    kind === 'travel-document' ? (docs.documents?.length ?? 0) : (docs.travelDocuments?.length ?? 0);
  return { subjects: dataSubjects(kind, body).length, documents };
}

export function carriesPersonalData(kind: string, body: unknown): boolean {
  const { subjects, documents } = personalDataIn(kind, body);
  return subjects + documents > 0;
}

/**
 * The deadline for a submission's personal data: the one the case system set, else the configured
 * default — the shortest of `byCategory` that applies to the message's information types and Art. 10(2)
 * categories, or `defaultDays`. `undefined` when the message carries no personal data.
 * @throws AccordError `policy.destruction_deadline_invalid` for a deadline in the past
 */
export function destructionDeadline(
  config: Config,
  kind: string,
  body: unknown,
  handling: Handling | undefined,
  now: Date,
): { destroyBy: string; byDefault: boolean; days?: number } | undefined {
  if (!carriesPersonalData(kind, body)) return undefined;
  if (handling?.destroyBy !== undefined) {
    if (Date.parse(handling.destroyBy) <= now.getTime()) {
      throw new AccordError(
        'policy.destruction_deadline_invalid',
        'Art. 10(5): the destruction deadline has already passed',
        { path: 'handling.destroyBy' },
      );
    }
    return { destroyBy: new Date(handling.destroyBy).toISOString(), byDefault: false };
  }
  const { defaultDays, byCategory } = config.dataProtection.destruction;
  const categories = [
    ...((body as { informationTypes?: string[] }).informationTypes ?? []),
    ...(kind === 'travel-document' ? ['travel-documents'] : []),
    ...(kind === 'person-search' ? ['missing-and-searched-persons'] : []),
    ...sensitiveCategoriesOf(kind, body),
  ];
  const specific = categories.map((c) => byCategory[c]).filter((d): d is number => d !== undefined);
  const days = specific.length > 0 ? Math.min(...specific) : defaultDays;
  return { destroyBy: new Date(now.getTime() + days * 86_400_000).toISOString(), byDefault: true, days };
}
