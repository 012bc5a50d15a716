/**
 * Upgrades: a replica of this version consumes nothing while a replica of an older version is active.
 * Older versions keep their delivered-log in the retired queue (`names().legacyDeliveredLog`) with a
 * process-local check, so an old and a new replica side by side would not see each other's lines in
 * flight, and a copy that comes back after a broker crash in that window could be delivered twice
 * (docs/reliability.md, docs/operator.md "Upgrade"). An older replica is known by its consumer on that
 * queue: while it has one, this replica waits before it consumes, says so in one line, and goes on once
 * the older replicas have stopped.
 */
import type { Logger } from 'pino';

/** How often the fence looks again while an older replica is active. */
export const FENCE_RECHECK_MS = 5_000;

/** What the fence needs of the local broker. */
export interface ConsumerCounts {
  consumerCount(queue: string): Promise<number | undefined>;
}

/**
 * Resolve once no older-version replica consumes `legacyQueue` (at once when none does, or when the
 * queue does not exist).
 */
export async function waitForOlderReplicas(
  broker: ConsumerCounts,
  legacyQueue: string,
  log: Logger,
): Promise<void> {
  let waiting = false;
  for (;;) {
    const consumers = (await broker.consumerCount(legacyQueue)) ?? 0;
    if (consumers === 0) break;
    if (!waiting) {
      waiting = true;
      log.error(
        { queue: legacyQueue, consumers },
        'a gateway of an older version is still running for this party; this one consumes nothing until it stops (docs/operator.md, Upgrade)',
      );
    }
    await new Promise((r) => setTimeout(r, FENCE_RECHECK_MS).unref());
  }
  if (waiting)
    log.warn({ queue: legacyQueue }, 'no gateway of an older version runs any more; consuming now');
}
