/**
 * Art. 11(2): "Information and documents provided in the framework of cooperation pursuant to this
 * Agreement may be provided to third states and international organizations only with a written
 * consent of the providing Contracting Party."
 *
 * The export gate is the only way out to a third state or organisation. An export passes when every
 * piece of information it carries that came from the peer is covered by the peer's unexpired written
 * consent for that destination: the messages it names, and — beyond what it declares — identifiers
 * (document numbers; names with dates of birth) that match keyed hashes of identifiers received from
 * the peer, both sides in their normal forms (policy/identifiers.ts). Otherwise it is blocked with
 * `policy.onward_transfer_blocked` and the field that caused it. A passed export names the consents
 * (the ids of the provider's `consent` messages) it relied on.
 */
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import type { ExportSubmission } from '../domain/submission.js';
import { AccordError } from '../errors.js';
import { exportIdentifiers } from './identifiers.js';

/** What the gate needs to know about received information and consents (Redis in production). */
export interface ProvenanceStore {
  /** Remember the keyed hashes of identifiers received in a peer message. */
  rememberIdentifiers(messageId: string, hashes: string[], ttlS: number): Promise<void>;
  /** The peer messages in which an identifier (by its keyed hash) was received. */
  originsOf(hash: string): Promise<string[]>;
  /** Record the provider's consent (message `consentId`) to pass a message on to a destination until a time. */
  recordConsent(reference: string, destination: string, validUntil: string, consentId: string): Promise<void>;
  /** The provider's consent to pass a message on to a destination, if it gave one (the latest-expiring). */
  consentOf(reference: string, destination: string): Promise<GateConsent | undefined>;
}

/** A written consent of the provider as the gate relies on it. */
export interface GateConsent {
  validUntil: string;
  /**
   * The id of the provider's `consent` message; absent for a consent recorded before the gateway kept
   * consent ids (the export record then names the message it covers instead).
   */
  consentId?: string | undefined;
}

/** The keyed hash under which an identifier is remembered (the identifier itself never is). */
export function identifierHash(key: string, id: string): string {
  return createHmac('sha256', secretKeyOf(key)).update(id).digest('base64url');
}

/** The HMAC key as a key object, made once per key rather than once per identifier. */
const secretKeys = new Map<string, KeyObject>();
function secretKeyOf(key: string): KeyObject {
  let k = secretKeys.get(key);
  if (!k) {
    k = createSecretKey(Buffer.from(key, 'utf8'));
    secretKeys.set(key, k);
  }
  return k;
}

/** What the gate decides on (facts loaded for it; the check itself does no I/O). */
export interface GateFacts {
  destinations: ReadonlySet<string>;
  /** Whether a message id is one this gateway received from the peer. */
  receivedFromPeer: (id: string) => boolean;
  /** Whether a message id is one this gateway sent itself. */
  sentByUs: (id: string) => boolean;
  /** The provider's consent to pass a message on to the export's destination, if it gave one. */
  consentOf: (reference: string) => GateConsent | undefined;
  /** The peer messages in which an identifier (by its keyed hash) was received. */
  originsOf: (hash: string) => readonly string[];
  identifierKey: string | undefined;
  now: Date;
}

/** The keyed hashes of the identifiers in an export's body (what {@link GateFacts.originsOf} is asked). */
export function exportIdentifierHashes(exp: ExportSubmission, identifierKey: string | undefined): string[] {
  if (identifierKey === undefined) return [];
  return exportIdentifiers(exp.body).map(({ id }) => identifierHash(identifierKey, id));
}

/** Check an export; returns the ids of the consents relied on, or throws `policy.*`. */
export function checkOnwardTransfer(exp: ExportSubmission, g: GateFacts): string[] {
  const { destination, references } = exp.body;
  if (!g.destinations.has(destination)) {
    throw new AccordError('policy.unknown_destination', 'the destination is not listed in the config', {
      path: 'body.destination',
    });
  }
  const relied = new Set<string>();
  const covered = (ref: string) => {
    const consent = g.consentOf(ref);
    if (consent === undefined || Date.parse(consent.validUntil) <= g.now.getTime()) return false;
    relied.add(consent.consentId ?? ref);
    return true;
  };
  for (const [i, ref] of references.entries()) {
    if (g.sentByUs(ref)) continue;
    if (!g.receivedFromPeer(ref)) {
      throw new AccordError(
        'policy.onward_transfer_blocked',
        'the origin of a referenced message cannot be verified',
        {
          path: `body.references.${i}`,
        },
      );
    }
    if (!covered(ref)) {
      throw new AccordError(
        'policy.onward_transfer_blocked',
        'Art. 11(2): no unexpired written consent of the provider covers this message for this destination',
        { path: `body.references.${i}` },
      );
    }
  }
  if (g.identifierKey !== undefined) {
    for (const { path, id } of exportIdentifiers(exp.body)) {
      for (const origin of g.originsOf(identifierHash(g.identifierKey, id))) {
        if (!covered(origin)) {
          throw new AccordError(
            'policy.onward_transfer_blocked',
            'Art. 11(2): this identifier was received from the peer, and no consent covers it for this destination',
            { path },
          );
        }
      }
    }
  }
  return [...relied];
}
