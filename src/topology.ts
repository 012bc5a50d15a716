/**
 * The gateway's topology on its local broker: which queues and exchanges it owns, with which
 * arguments, and how they are declared. The names themselves come from `names()` in config.ts; the
 * broker setup (`accord broker setup`), the demo, the tests and the bench read the same lists.
 */
import { names, type Config } from './config.js';
import type { AmqpConnection } from './transport/amqp.js';

/** Every queue this gateway owns on its local broker. */
export function ownQueues(config: Config): string[] {
  const n = names(config.namespace);
  return [
    n.outbox,
    n.ingress,
    n.dlq,
    n.deliveredLog,
    ...config.authorities.flatMap((a) => [n.inbox(a.id), n.events(a.id), n.review(a.id)]),
    ...config.exportDestinations.map((d) => n.exportQueue(d.id)),
    n.held,
  ];
}

/**
 * Queues of older versions that this one no longer declares or publishes to, but drains while they
 * exist (the delivered-log before its single active consumer); the operator deletes them after an
 * upgrade, and whoever removes a whole namespace (tests, demo, bench) deletes them too.
 */
export function retiredQueues(config: Config): string[] {
  return [names(config.namespace).legacyDeliveredLog];
}

/** The exchanges a gateway declares on its broker (each bound to one of its queues). */
export function ownExchanges(config: Config): string[] {
  const n = names(config.namespace);
  return [n.submitExchange, n.peerExchange];
}

/**
 * Queue arguments. Classic queues get priorities, so urgent requests (Art. 9(1)) overtake queued bulk
 * traffic; quorum queues (replicated) have no priorities before RabbitMQ 4.
 */
export function queueArgs(config: Config): Record<string, unknown> {
  return config.amqp.queueType === 'quorum' ? { 'x-queue-type': 'quorum' } : { 'x-max-priority': 10 };
}

/**
 * The arguments of one of this gateway's queues: `queueArgs`; for the held queue (Art. 10(4)) a TTL
 * after which a held message goes back to the ingress through the peer exchange; for the
 * delivered-log a single active consumer and no priorities (transport/delivered-log.ts).
 */
export function queueArgsFor(config: Config, queue: string): Record<string, unknown> {
  const n = names(config.namespace);
  if (queue === n.deliveredLog) {
    // One replica applies the lines at a time, in queue order: what makes a probe line a barrier.
    // Plain FIFO: with priorities, a line published with one could overtake a probe.
    return {
      ...(config.amqp.queueType === 'quorum' ? { 'x-queue-type': 'quorum' } : {}),
      'x-single-active-consumer': true,
    };
  }
  if (queue !== n.held) return queueArgs(config);
  return {
    ...queueArgs(config),
    'x-message-ttl': config.dataProtection.holdRetryS * 1000,
    'x-dead-letter-exchange': n.peerExchange,
    'x-dead-letter-routing-key': n.ingress,
  };
}

/**
 * Declare every queue with its arguments, and the two exchanges. Submissions and the peer's messages
 * come through exchanges bound to one queue each, so that broker users need no write permission on
 * the default exchange (docs/security.md).
 */
export async function declareTopology(local: AmqpConnection, config: Config): Promise<void> {
  const n = names(config.namespace);
  const withOwnArgs = [n.held, n.deliveredLog];
  await local.assertQueues(
    ownQueues(config).filter((q) => !withOwnArgs.includes(q)),
    queueArgs(config),
  );
  for (const q of withOwnArgs) await local.assertQueues([q], queueArgsFor(config, q));
  await local.assertRoute(n.submitExchange, n.outbox);
  await local.assertRoute(n.peerExchange, n.ingress);
  await local.assertRoute(n.peerExchange, n.ingress, n.heartbeatRoute);
  // Wire version 2: the binding is the announcement that this gateway reads transfers.
  if (config.transfers.read) await local.assertRoute(n.peerExchange, n.ingress, n.transferRoute);
  else await local.removeRoute(n.peerExchange, n.ingress, n.transferRoute);
}
