/**
 * Art. 10(7), 11(1), protection against unauthorised access and modification: the gateways'
 * own messages about their keys, between the first authorities of both directories — nothing reaches
 * an authority.
 *
 * - `key-announcement`: a gateway announces its next key(s), signed with its key in force; the peer
 *   pins them (src/keys/exchange.ts), and the announcing gateway makes a key active once the peer's
 *   receipt for the announcement is back.
 * - `key-revocation`: a gateway revoked one of its keys; from receipt on, the peer accepts nothing
 *   under it.
 */
import type { KindSpecs } from './spec.js';

export const gatewayKeys: KindSpecs<'key-announcement' | 'key-revocation'> = {
  'key-announcement': {
    articles: 'Art. 10(7), 11(1)',
    receive: { keyChange: (env) => env },
    receipted: {
      untold: true,
      // The peer has pinned the announced key: it becomes the one in use.
      effects: (sent) => [{ type: 'key-receipted', id: sent.id }],
    },
  },
  'key-revocation': {
    articles: 'Art. 10(7), 11(1)',
    receive: { keyChange: (env) => env },
    receipted: { untold: true },
  },
};
