/**
 * Gateway liveness (operations, no article): the `heartbeat` a gateway sends the peer gateway every
 * `alerts.heartbeatIntervalS` while its peer link is up, signed and encrypted like every message
 * between the gateways and checked against the same strict envelope schema. The receiver notes that
 * the peer gateway is alive (src/jobs/peer-heartbeat.ts) and acks it: no de-duplication claim, no
 * receipt, no Art. 10(6) record, nothing delivered to an authority and nothing in the ledger — it
 * carries no personal data.
 *
 * It travels on its own routing key ({@link ../config.ts names().heartbeatRoute}), with a broker TTL of
 * one interval: heartbeats never pile up in a queue while the peer gateway is away, and a peer of an
 * older version, whose broker has no binding for that key, never sees one (its broker returns it to
 * the sender as unroutable).
 */
import type { KindSpecs } from './spec.js';

export const heartbeat: KindSpecs<'heartbeat'> = {
  heartbeat: {
    articles: 'none (gateway liveness)',
    receive: { heartbeat: (env) => env },
  },
};
