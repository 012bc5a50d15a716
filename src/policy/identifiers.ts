/**
 * Art. 11(2): the identifiers the export gate keys and compares — travel document numbers, and family
 * names with a date of birth — each in a normal form, so that another spelling of the same identifier
 * cannot pass the gate where the exact spelling would be stopped. The same functions serve both ends
 * of the gate: what is remembered of a message received from the peer (pipeline/decide-inbound.ts)
 * and what an export is matched by (policy/onward-transfer.ts). Pure; Unicode normalisation built into
 * JavaScript only (no transliteration library).
 *
 * - Document numbers: Unicode NFKC, upper case, and only letters and digits kept — no spaces, hyphens,
 *   dots, slashes or MRZ fillers (`<`): `KZ-A9BC4B5`, `kza9bc4b5`, `KZ A9BC4B5` and `KZA9BC4B5<` are
 *   all `KZA9BC4B5`.
 * - Family names: Unicode NFKD with the combining marks removed (diacritics: `Novák` = `Novak`,
 *   `Şamil` = `Samil`), lower case, the Latin letters NFKD leaves whole spelled out (ß → ss, æ → ae,
 *   ø → o, ł → l, đ → d, ı → i, œ → oe, þ → th, ð → d), and only letters and digits kept (no spaces,
 *   hyphens, apostrophes or dots). A name with ä, ö or ü is keyed twice: also with the German spelling
 *   ae, oe, ue (`Müller` matches both `Muller` and `Mueller`).
 *
 * Not covered (docs/security.md): one script written in another (Cyrillic ↔ Latin: `Назарбаев` and
 * `Nazarbayev` do not match), the variants of transliteration systems (`Nazarbayev` / `Nazarbaev`), names
 * reordered, shortened or misspelt, and a person named by an alias instead of the family name.
 */

/** One identifier of a body: where it is, and a form it is keyed under (a path may have several). */
export interface Identifier {
  path: string;
  id: string;
}

/** The normal form of a travel document number: upper-case letters and digits only. */
export function normalDocumentNumber(n: string): string {
  return n.normalize('NFKC').toUpperCase().replace(NOT_ALPHANUMERIC, '');
}

/** The normal forms of a family name (one, or two for a name with ä, ö or ü). */
export function normalNames(name: string): string[] {
  const lower = name.normalize('NFC').toLowerCase();
  const forms = [normalName(lower)];
  if (/[äöü]/u.test(lower)) {
    const german = normalName(lower.replace(/ä/gu, 'ae').replace(/ö/gu, 'oe').replace(/ü/gu, 'ue'));
    if (german !== forms[0]) forms.push(german);
  }
  return forms;
}

const NOT_ALPHANUMERIC = /[^\p{L}\p{N}]/gu;
const COMBINING_MARKS = /\p{M}/gu;

/** Latin letters that NFKD does not decompose, spelled with the letters they stand for. */
const WHOLE_LETTERS: Readonly<Record<string, string>> = {
  ß: 'ss',
  æ: 'ae',
  ø: 'o',
  ł: 'l',
  đ: 'd',
  ı: 'i',
  œ: 'oe',
  þ: 'th',
  ð: 'd',
};
const WHOLE_LETTER = new RegExp(`[${Object.keys(WHOLE_LETTERS).join('')}]`, 'gu');

function normalName(name: string): string {
  return name
    .normalize('NFKD')
    .replace(COMBINING_MARKS, '')
    .toLowerCase()
    .replace(WHOLE_LETTER, (c) => WHOLE_LETTERS[c] ?? c)
    .replace(NOT_ALPHANUMERIC, '');
}

interface PersonLike {
  familyName: string;
  dateOfBirth?: string | undefined;
}

interface IdentifyingBody {
  persons?: PersonLike[];
  person?: PersonLike;
  travelDocuments?: { number: string }[];
  documents?: { number: string }[];
}

/** Every place of a body that holds an identifier, with its raw value. */
function rawIdentifiers(body: unknown): { path: string; person?: PersonLike; number?: string }[] {
  const b = (body ?? {}) as IdentifyingBody;
  const out: { path: string; person?: PersonLike; number?: string }[] = [];
  b.persons?.forEach((p, i) => out.push({ path: `body.persons.${i}`, person: p }));
  if (b.person) out.push({ path: 'body.person', person: b.person });
  b.travelDocuments?.forEach((d, i) =>
    out.push({ path: `body.travelDocuments.${i}.number`, number: d.number }),
  );
  b.documents?.forEach((d, i) => out.push({ path: `body.documents.${i}.number`, number: d.number }));
  return out;
}

/**
 * The identifiers of a body in their normal forms: what is remembered (as keyed hashes) of a message
 * received from the peer. A name alone identifies nobody; a name with a date of birth does.
 */
export function identifiers(body: unknown): Identifier[] {
  return rawIdentifiers(body).flatMap(({ path, person, number }) => {
    if (number !== undefined) return [{ path, id: `document:${normalDocumentNumber(number)}` }];
    if (person?.dateOfBirth === undefined) return [];
    const dob = person.dateOfBirth;
    return normalNames(person.familyName).map((n) => ({ path, id: `person:${n}|${dob}` }));
  });
}

/**
 * What an export is matched by: the normal forms, and also the exact forms the gateway remembered
 * before it normalised identifiers (`document:<number as written>`, `person:<name trimmed, lower
 * case>|<date>`), so that what was received before the upgrade still stops an export of the same
 * spelling until those records expire (`policy.identifierRetentionDays`).
 */
export function exportIdentifiers(body: unknown): Identifier[] {
  const seen = new Set<string>();
  const out: Identifier[] = [];
  const add = (i: Identifier) => {
    const key = `${i.path}\u0000${i.id}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push(i);
  };
  identifiers(body).forEach(add);
  for (const { path, person, number } of rawIdentifiers(body)) {
    if (number !== undefined) add({ path, id: `document:${number}` });
    else if (person?.dateOfBirth !== undefined) {
      add({ path, id: `person:${person.familyName.trim().toLowerCase()}|${person.dateOfBirth}` });
    }
  }
  return out;
}
