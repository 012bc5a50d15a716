/**
 * Reception awareness (DESIGN §2; Art. 10(6), 10(7)): the receiving gateway's signed `receipt` for
 * each sealed message it took in, carrying the SHA-256 of the exact JWE, when it was received, what
 * became of it, and the receiver's latest audit checkpoint (an anchor of its records). The sender
 * checks it against its sent record, reports to the sending authority what the status says, and
 * hands it to the kind of the message receipted (src/kinds/*: `receipted`).
 */
import type { EnvelopeOf } from '../domain/envelope.js';
import type { StatusEvent } from '../domain/events.js';
import type { KindSpecs } from './spec.js';

export const receipts: KindSpecs<'receipt'> = {
  receipt: {
    articles: 'Art. 10(6), 10(7) (reception awareness)',
    receive: { receipt: (env) => env },
  },
};

/**
 * What the sending authority is told for each status of a receipt. `refused`: nothing — the requester
 * hears of it from the refusal notice (Art. 9(5)).
 */
export function toldOf(
  status: EnvelopeOf<'receipt'>['body']['status'],
): Pick<StatusEvent, 'type' | 'message'> | undefined {
  switch (status) {
    case 'delivered':
    case 'duplicate':
      return { type: 'delivered' };
    case 'in-review':
      return {
        type: 'in-review',
        message: 'Art. 9(4): the requested party holds the request for a decision; a reply or notice follows',
      };
    case 'held':
      return {
        type: 'held',
        message: 'Art. 10(4): taken in; delivered once the message it refers to has arrived',
      };
    case 'refused':
      return undefined;
  }
}
