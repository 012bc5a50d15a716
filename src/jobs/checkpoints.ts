/**
 * Art. 10(6) housekeeping: a signed checkpoint at least every `records.checkpointIntervalS` while
 * records are written, and the records the `accord` command hands over (audit/handoff.ts).
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { AuditLog } from '../audit/log.js';
import { drainHandoff, handoffChannel } from '../audit/handoff.js';
import { duplicateConnection } from '../store/redis-connect.js';

/**
 * Start the checkpoints and the hand-over; returns the stopper, which writes a last checkpoint when
 * anything was recorded since the last one (the log itself is closed by its owner, after this).
 */
export async function keepRecords(
  config: Config,
  audit: AuditLog,
  redis: Redis,
  prefix: string,
  log: Logger,
): Promise<() => Promise<void>> {
  const drain = () =>
    drainHandoff(redis, prefix, audit, log).catch((err: unknown) =>
      log.error({ err: (err as Error).message }, 'handed-over audit records could not be appended'),
    );
  await drain();
  const sub = duplicateConnection(redis, (err) =>
    log.warn({ err: err.message }, 'redis error (audit hand-off)'),
  );
  await sub.subscribe(handoffChannel(prefix));
  sub.on('message', () => void drain());
  let lastCheckpoint = audit.latestCheckpointHash();
  let written = audit.recordsWritten();
  const timer = setInterval(() => {
    // Only when something was recorded since the last checkpoint.
    if (audit.recordsWritten() === written && audit.latestCheckpointHash() === lastCheckpoint) return;
    audit
      .checkpoint()
      .then(() => {
        lastCheckpoint = audit.latestCheckpointHash();
        written = audit.recordsWritten();
      })
      .catch((err: unknown) => log.error({ err: (err as Error).message }, 'audit checkpoint failed'));
  }, config.records.checkpointIntervalS * 1000);
  timer.unref();
  return async () => {
    clearInterval(timer);
    sub.disconnect();
    if (audit.recordsWritten() !== written) await audit.checkpoint().catch(() => undefined);
  };
}
