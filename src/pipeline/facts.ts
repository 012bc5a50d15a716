/**
 * Loading the facts a decision is taken on: what the kind specs and the pipeline asked to look up
 * ({@link Lookups}), read through the ports, plus the configuration, the directory and the clock.
 */
import { Envelope } from '../domain/envelope.js';
import { parseJson, validate } from '../domain/parse.js';
import type { Facts, HeldReview, Lookups } from '../kinds/spec.js';
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
  const review = lookups.find((l) => l?.review !== undefined)?.review;
  const met = lookups.flatMap((l) => l?.met ?? []);
  const gate = lookups.find((l) => l?.gate !== undefined)?.gate;
  // Every group is read at once: the reads are independent, so one round trip to Redis, not one each.
  const [provided, received, seen, sent, suspensionList, suspension, termination, heldFor, metKeys, gateOf] =
    await Promise.all([
      load(
        ids((l) => l.provided),
        (id) => ledger.getProvided(id),
      ),
      load(
        ids((l) => l.received),
        (id) => ledger.getReceived(id),
      ),
      load(
        ids((l) => l.seen),
        (id) => state.getSeen(id),
      ),
      load(
        ids((l) => l.sent),
        (id) => state.getSent(id),
      ),
      lookups.some((l) => l?.suspensions) ? suspensions.list() : [],
      suspensionId === undefined ? undefined : suspensions.get(suspensionId),
      opts.termination ? ledger.termination() : null,
      review === undefined ? undefined : heldReview(ctx, review.id, review.decisionId),
      Promise.all(
        met.map(async (m) => ((await ctx.deps.deadlines.isMet(m.kind, m.id)) ? [`${m.kind}:${m.id}`] : [])),
      ),
      gate === undefined ? { consents: new Map(), origins: new Map() } : gateFacts(ctx, gate),
    ]);
  return {
    config: ctx.config,
    ownAuthorities: ctx.ownAuthorities,
    peerAuthorities: ctx.peerAuthorities,
    now,
    provided,
    received,
    seen,
    sent,
    suspensions: suspensionList,
    suspension,
    termination,
    review: heldFor,
    met: new Set(metKeys.flat()),
    gate: gateOf,
  };
}

/**
 * Art. 9(4): a request held for review, and its stored JWE opened and verified again (a key since
 * retired or revoked makes it `unavailable`, which an admin must look at).
 */
async function heldReview(ctx: GatewayContext, id: string, decisionId: string): Promise<HeldReview> {
  const { reviews } = ctx.deps;
  const record = await reviews.get(id);
  if (!record) return { record, done: false };
  const done = await reviews.isDone(id, decisionId);
  try {
    const opened = await ctx.crypto.openAny(Buffer.from(record.jwe, 'latin1'), ctx.keys, ctx.profile);
    if ('payload' in opened) {
      const envelope = validate(Envelope, parseJson(opened.payload, ctx.profile.maxMessageBytes), 'envelope');
      return { record, done, opened: { envelope, verification: opened.facts } };
    }
    // It came in a transfer (wire version 2): the member with its id, and that member's evidence.
    const t = opened.transfer;
    for (let index = 0; index < t.members.length; index++) {
      const raw = parseJson(Buffer.from(t.members[index]!, 'utf8'), ctx.profile.maxMessageBytes);
      if ((raw as { id?: unknown } | null)?.id !== id) continue;
      const envelope = validate(Envelope, raw, 'envelope');
      const transfer = {
        transfer: t.statement.transfer,
        statement: t.statementJws,
        root: t.statement.root,
        index,
        count: t.statement.count,
        path: t.paths[index]!,
      };
      const verification = { ...opened.facts, jweSha256: t.leaves[index]!, transfer };
      return { record, done, opened: { envelope, verification } };
    }
    throw new Error('the held request is not in the transfer it was kept with');
  } catch (err) {
    ctx.deps.log.error(
      { messageId: id, code: 'policy.review_unavailable', err: (err as Error).message },
      'the held request cannot be opened again',
    );
    return { record, done, opened: 'unavailable' };
  }
}

/** Art. 11(2): the consents for a destination of the messages named, and the origins of the identifiers. */
async function gateFacts(ctx: GatewayContext, gate: NonNullable<Lookups['gate']>): Promise<Facts['gate']> {
  const { provenance } = ctx.deps;
  const origins = new Map(
    await Promise.all(gate.identifierHashes.map(async (h) => [h, await provenance.originsOf(h)] as const)),
  );
  const refs = [...new Set([...gate.references, ...[...origins.values()].flat()])];
  const consents = new Map(
    await Promise.all(refs.map(async (r) => [r, await provenance.consentOf(r, gate.destination)] as const)),
  );
  return { consents, origins };
}
