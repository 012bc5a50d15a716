/**
 * Loading the facts a decision is taken on: what the kind specs and the pipeline asked to look up
 * ({@link Lookups}), read through the ports, plus the configuration, the directory and the clock.
 */
import type { Facts, Lookups } from '../kinds/spec.js';
import type { GatewayContext } from './context.js';

/** What to load besides the lookups. */
export interface FactOptions {
  /** Art. 18: the termination notified by either party. */
  termination?: boolean;
}

/** Read everything `lookups` ask for. */
export async function loadFacts(
  ctx: GatewayContext,
  lookups: readonly (Lookups | undefined)[],
  opts: FactOptions = {},
  now: Date = ctx.deps.now(),
): Promise<Facts> {
  const { state, ledger, suspensions } = ctx.deps;
  const ids = (pick: (l: Lookups) => readonly string[] | undefined) => [
    ...new Set(lookups.flatMap((l) => (l === undefined ? [] : (pick(l) ?? [])))),
  ];
  const load = async <T>(keys: string[], get: (id: string) => Promise<T | null>) =>
    new Map<string, T | null>(await Promise.all(keys.map(async (k) => [k, await get(k)] as const)));
  const suspensionId = lookups.find((l) => l?.suspension !== undefined)?.suspension;
  return {
    config: ctx.config,
    ownAuthorities: ctx.ownAuthorities,
    peerAuthorities: ctx.peerAuthorities,
    now,
    provided: await load(
      ids((l) => l.provided),
      (id) => ledger.getProvided(id),
    ),
    received: await load(
      ids((l) => l.received),
      (id) => ledger.getReceived(id),
    ),
    seen: await load(
      ids((l) => l.seen),
      (id) => state.getSeen(id),
    ),
    sent: await load(
      ids((l) => l.sent),
      (id) => state.getSent(id),
    ),
    suspensions: lookups.some((l) => l?.suspensions) ? await suspensions.list() : [],
    suspension: suspensionId === undefined ? undefined : await suspensions.get(suspensionId),
    termination: opts.termination ? await ledger.termination() : null,
  };
}
