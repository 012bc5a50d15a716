/**
 * Art. 10(2): "Personal data revealing nationality, racial or ethnic origin, political opinions,
 * religion, philosophical beliefs, previous criminal convictions, health or sexual life of the subject
 * of the personal data may be provided only when necessary."
 *
 * The categories are derived from the explicit fields of every data subject in the message; each one
 * present needs a necessity statement, and flags declared by the case system must match the data.
 * Both gateways apply the rule: the sender refuses before sealing, the receiver before delivering.
 */
import { SENSITIVE_FIELDS, type Person } from '../domain/messages.js';
import type { SensitiveCategory } from '../domain/categories.js';
import type { Handling } from '../domain/envelope.js';
import { AccordError } from '../errors.js';

/** The data subjects of a message body, with their paths. */
export function dataSubjects(kind: string, body: unknown): { path: string; person: Person }[] {
  const b = body as { persons?: Person[]; person?: Person };
  if (kind === 'person-search' && b.person) return [{ path: 'body.person', person: b.person }];
  return (b.persons ?? []).map((person, i) => ({ path: `body.persons.${i}`, person }));
}

/** The Art. 10(2) categories present in the data, in a stable order. */
export function sensitiveCategoriesOf(kind: string, body: unknown): SensitiveCategory[] {
  const found = new Set<SensitiveCategory>();
  for (const { person } of dataSubjects(kind, body)) {
    for (const [field, category] of Object.entries(SENSITIVE_FIELDS)) {
      if (person[field as keyof Person] !== undefined) found.add(category);
    }
  }
  return [...found].sort();
}

/**
 * Check the rule and return the flags to bind into the signed envelope.
 * @throws AccordError `policy.sensitive_without_necessity` or `policy.sensitive_flags_mismatch`
 */
export function checkSensitiveData(
  kind: string,
  body: unknown,
  handling: Handling | undefined,
  opts: { requireDeclared?: boolean } = {},
): SensitiveCategory[] {
  const present = sensitiveCategoriesOf(kind, body);
  // A signed envelope always declares its flags (the receiver shows them); a submission may leave them out.
  const declared = handling?.sensitive ?? (opts.requireDeclared ? [] : undefined);
  if (declared !== undefined) {
    const d = [...new Set(declared)].sort();
    if (d.length !== present.length || d.some((c, i) => c !== present[i])) {
      throw new AccordError(
        'policy.sensitive_flags_mismatch',
        `Art. 10(2): the declared sensitive categories [${d.join(', ')}] do not match the data [${present.join(', ')}]`,
        { path: 'handling.sensitive' },
      );
    }
  }
  const justified = new Set((handling?.necessity ?? []).map((n) => n.category));
  for (const category of present) {
    if (!justified.has(category)) {
      throw new AccordError(
        'policy.sensitive_without_necessity',
        `Art. 10(2): data on ${category} may be provided only when necessary; state why in handling.necessity`,
        { path: 'handling.necessity' },
      );
    }
  }
  (handling?.necessity ?? []).forEach((n, i) => {
    if (!present.includes(n.category)) {
      throw new AccordError(
        'policy.sensitive_flags_mismatch',
        `Art. 10(2): a necessity statement for ${n.category}, which the data does not contain`,
        { path: `handling.necessity.${i}.category` },
      );
    }
  });
  return present;
}

/**
 * Words that suggest Art. 10(2) data in free text, where the gateway cannot check it. A match does
 * not refuse the message; the sender gets a `warning` event to look again.
 */
const SUSPECT_WORDS =
  /\b(nationality|citizenship|ethnic\w*|race|racial|religio\w*|muslim|christian|jewish|buddhist|atheist|political (?:view|opinion|party)\w*|convict\w*|criminal record|previous(?:ly)? sentenced|diagnos\w*|hiv|aids|disease|illness|medical|psychiatr\w*|pregnan\w*|sexual orientation|homosexual|gay|lesbian|transgender)\b/i;

/** Paths of free-text fields whose wording suggests sensitive data. */
export function suspectFreeText(body: unknown): string[] {
  const b = body as Record<string, unknown>;
  return ['summary', 'details', 'note', 'explanation']
    .filter((f) => typeof b[f] === 'string' && SUSPECT_WORDS.test(b[f]))
    .map((f) => `body.${f}`);
}
