/**
 * Art. 9(2): "Should the authority which has received the request for assistance not be the competent
 * authority to deal with this request, it shall refer the request to the authority which is competent
 * thereto."
 *
 * The receiving gateway applies the routing table of its config (`policy.competence`) to every inbound
 * request: one addressed to an authority not competent for it goes to the first competent one, and a
 * signed referral notice tells the requester.
 */
import type { Config } from '../config.js';
import type { EnvelopeOf } from '../domain/envelope.js';

type Competence = Config['policy']['competence'][number];

const anyOf = <T>(wanted: readonly T[] | undefined, have: readonly T[]) =>
  wanted === undefined || wanted.some((w) => have.includes(w));

function competent(entry: Competence, request: EnvelopeOf<'request'>): boolean {
  const b = request.body;
  return (
    anyOf(entry.crimeCategories, b.crimeCategories) &&
    anyOf(entry.informationTypes, b.informationTypes) &&
    anyOf(entry.assistanceTypes, b.assistanceTypes)
  );
}

/** The authority that should receive the request: the addressed one, unless the table says otherwise. */
export function competentAuthority(table: readonly Competence[], request: EnvelopeOf<'request'>): string {
  const addressed = request.to.authority;
  const own = table.find((e) => e.authority === addressed);
  if (own === undefined || competent(own, request)) return addressed;
  return table.find((e) => e.authority !== addressed && competent(e, request))?.authority ?? addressed;
}
