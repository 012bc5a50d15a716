/**
 * The conditions judged by looking, not by an event: no usable key (the readiness `keys` check
 * failing) and a dead-letter queue above `alerts.dlqDepthAbove`. Looked at every `everyS`; each
 * opens its alert once while it holds and resolves it when it clears (src/admin/alerts.ts).
 */
import type { Logger } from 'pino';
import type { AlertFacts, Alerter } from '../admin/alerts.js';

export interface ConditionSources {
  /** What makes the keys unusable now (the key set, a kid), or undefined when they are usable. */
  keysUnusable: () => AlertFacts | undefined;
  /** Messages in accord.dlq; undefined when the broker cannot say (then nothing changes). */
  dlqDepth: () => Promise<number | undefined>;
}

/** Start looking; returns the stopper. */
export function watchConditions(
  sources: ConditionSources,
  opts: { everyS: number; dlqDepthAbove: number; alerts: Alerter; log: Logger },
): () => void {
  const { alerts } = opts;
  const look = async () => {
    const keys = sources.keysUnusable();
    if (keys === undefined) alerts.resolve('alert.key_unusable');
    else alerts.open('alert.key_unusable', keys);
    const depth = await sources.dlqDepth();
    if (depth === undefined) return;
    if (depth > opts.dlqDepthAbove) alerts.open('alert.dlq_growing', { depth });
    else alerts.resolve('alert.dlq_growing');
  };
  const tick = () =>
    void look().catch((err: unknown) =>
      opts.log.warn({ err: (err as Error).message }, 'alert conditions could not be checked'),
    );
  const timer = setInterval(tick, opts.everyS * 1000);
  timer.unref();
  tick();
  return () => clearInterval(timer);
}
