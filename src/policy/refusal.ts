/**
 * Art. 9(4): "Each of the Contracting Parties may, in full or partially, refuse a request for
 * assistance pursuant to this Agreement should it conclude that meeting such request would pose a
 * threat to sovereignty, security or any other important interests of its State, or should it be in
 * violation of legislation or international obligations of its State."
 * Art. 9(5): "Should a request be refused or met only partially, the Contracting Parties shall
 * immediately inform each other thereof in writing."
 *
 * The configured rules are the first of the refusal hooks: the first rule that matches an inbound
 * request refuses it, and the gateway sends the signed refusal notice at once.
 */
import type { RefusalRule } from '../config.js';
import type { EnvelopeOf } from '../domain/envelope.js';

const anyOf = <T>(wanted: readonly T[] | undefined, have: readonly T[]) =>
  wanted === undefined || wanted.some((w) => have.includes(w));

/** The first rule that refuses this request, if any. */
export function matchRefusalRule(
  rules: readonly RefusalRule[],
  request: EnvelopeOf<'request'>,
): RefusalRule | undefined {
  const b = request.body;
  return rules.find(
    ({ when }) =>
      anyOf(when.crimeCategories, b.crimeCategories) &&
      anyOf(when.informationTypes, b.informationTypes) &&
      anyOf(when.assistanceTypes, b.assistanceTypes) &&
      anyOf(when.fromAuthorities, [request.from.authority]) &&
      anyOf(when.toAuthorities, [request.to.authority]),
  );
}
