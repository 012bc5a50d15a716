/**
 * The facts of the admin dashboard: what the gateway fills in ({@link DashboardSource}) and
 * the one summary built from it, served as JSON at `/api/summary` and rendered as HTML at `/`
 * (dashboard-page.ts). Ids, kinds, codes, grounds, authorities, key ids and times only: never message
 * content, refusal explanations or key material.
 */
import { z } from 'zod';
import { KEY_STATES, recordOf, type KeyStateFile } from '../crypto/lifecycle.js';
import type { KeyInventoryEntry } from '../crypto/keyring.js';
import { CrimeCategory } from '../domain/categories.js';
import { suspendedBy, type SuspensionStore } from '../policy/suspension.js';
import { ALERTS, type OpenAlert, type RecentAlert } from './alerts.js';
import type { MessageCount, RecentRefusal } from './metrics.js';
import type { Ring } from './ring.js';

/** A connection that says whether it is up and tells when that changes (an AmqpConnection). */
export interface Watchable {
  readonly isUp: boolean;
  on(event: 'up' | 'down', listener: () => void): unknown;
}

/** Up or down, and since when (this process has watched it since the gateway started). */
export class LinkWatch {
  private changedAt: Date;
  private wasUp: boolean;

  constructor(
    private readonly conn: Watchable,
    now: () => Date,
  ) {
    this.changedAt = now();
    this.wasUp = conn.isUp;
    const change = (up: boolean) => () => {
      if (up === this.wasUp) return;
      this.wasUp = up;
      this.changedAt = now();
    };
    conn.on('up', change(true));
    conn.on('down', change(false));
  }

  get state(): { up: boolean; since: string } {
    return { up: this.conn.isUp, since: this.changedAt.toISOString() };
  }
}

/** Everything the dashboard reads, filled in by the gateway's composition root. */
export interface DashboardSource {
  party: string;
  now: () => Date;
  links: { peer: LinkWatch; local: LinkWatch };
  metrics: {
    readonly inFlight: number;
    /** Must read the counters synchronously when called (prom-client's `get()` does). */
    messageCounts(): Promise<MessageCount[]>;
    readonly recentRefusals: Ring<RecentRefusal>;
  };
  alerts: {
    readonly recent: Ring<RecentAlert>;
    /** Conditions that hold now (Alerts.openAlerts). */
    openAlerts(): OpenAlert[];
    readonly cleared: Ring<RecentAlert & { since: string }>;
  };
  keys: {
    inventory(): KeyInventoryEntry[];
    readonly lifecycle: KeyStateFile;
    /** Why nothing can be sealed now (no usable signing or peer encryption key), or undefined. */
    unusable(): string | undefined;
  };
  /** Open letters in accord.dlq (a late receipt resolved the others); undefined when the broker cannot say. */
  dlqDepth: () => Promise<number | undefined>;
  /** Ids of the inbound requests held for a decision (Art. 9(4)). */
  pendingReviews: () => Promise<string[]>;
  suspensions: Pick<SuspensionStore, 'list'>;
  /** Per queue this gateway consumes or parks in: ready in the broker, and taken but not yet acked. */
  backlogs: () => Promise<Backlog[]>;
}

/** One queue's backlog; null where it cannot be told now. */
export interface Backlog {
  queue: string;
  ready: number | null;
  unacked: number | null;
}

const Instant = z.iso.datetime({ offset: true });
const Count = z.int().nonnegative();
const Id = z.string().min(1).max(200);
const Link = z.strictObject({ up: z.boolean(), since: Instant });
const AlertCode = z.enum(Object.keys(ALERTS) as [keyof typeof ALERTS, ...(keyof typeof ALERTS)[]]);

/** The dashboard's facts, as `/api/summary` returns them. */
export const Summary = z.strictObject({
  party: z.string(),
  generatedAt: Instant,
  peerLink: Link,
  localBroker: Link,
  /** The message counters of /metrics (sent, delivered, other outcomes, received), sample by sample. */
  throughput: z.array(
    z.strictObject({ direction: z.enum(['in', 'out']), kind: Id, outcome: Id, count: Count }),
  ),
  /** Sent to the peer and awaiting a receipt (counted since this process started). */
  inFlight: Count,
  failed: z.strictObject({
    /** Null when the broker could not be asked. */
    dlqDepth: Count.nullable(),
    /** Outgoing messages that got no receipt after the last resend. */
    noReceipt: Count,
  }),
  /** The last refusals by this gateway (Art. 9(4)), newest first. */
  refusals: z.array(
    z.strictObject({
      at: Instant,
      messageId: Id,
      grounds: z.array(Id),
      decidedBy: z.enum(['rule', 'hook', 'person', 'authority']),
    }),
  ),
  /** Null when Redis could not be read. */
  reviews: z.strictObject({ pending: Count, ids: z.array(Id) }).nullable(),
  /** The last alerts raised (overdue obligations, failed deliveries, a down peer link), newest first. */
  alerts: z.array(
    z.strictObject({
      code: z.enum(Object.keys(ALERTS) as [keyof typeof ALERTS, ...(keyof typeof ALERTS)[]]),
      at: Instant,
      messageId: Id.optional(),
      authority: Id.optional(),
      kind: Id.optional(),
      obligation: Id.optional(),
      downForS: z.number().optional(),
      kid: Id.optional(),
      daysLeft: z.number().optional(),
    }),
  ),
  /** The alert conditions that hold now (each fired once), oldest first. */
  openAlerts: z.array(z.strictObject({ code: AlertCode, since: Instant, subject: Id.optional() })),
  /** The last conditions that cleared (a `resolved` was sent), newest first. */
  clearedAlerts: z.array(z.strictObject({ code: AlertCode, since: Instant, at: Instant })),
  keys: z.array(
    z.strictObject({
      owner: z.enum(['own', 'peer']),
      kid: Id,
      use: z.enum(['sig', 'enc']),
      state: z.enum(KEY_STATES),
      nbf: Instant.optional(),
      exp: Instant.optional(),
      /** Whole days until `exp` (negative once passed). */
      daysLeft: z.int().optional(),
    }),
  ),
  /** Why nothing can be sealed now (`crypto.key_revoked: …`, `crypto.key_expired: …`); null when keys are usable. */
  keysUnusable: z.string().max(2000).nullable(),
  /** Art. 17; null when Redis could not be read. */
  suspensions: z
    .strictObject({
      /** The crime categories whose requests are suspended now (every one: the whole agreement). */
      suspendedNow: z.array(Id),
      notices: z.array(
        z.strictObject({
          id: Id,
          party: Id,
          action: z.enum(['suspend', 'resume']),
          /** `all`, or the crime categories it covers. */
          scope: z.union([z.literal('all'), z.array(Id)]),
          /** Unknown until the peer's receipt came (fifteen days after delivery). */
          effectiveAt: Instant.optional(),
          effective: z.boolean(),
        }),
      ),
    })
    .nullable(),
  /** What /readyz says (the banner); null when the checks could not be run. */
  readiness: z
    .strictObject({
      ready: z.boolean(),
      failing: z.array(Id),
      checks: z.record(Id, z.string().max(2000)),
    })
    .nullable(),
  /** Per queue: ready in the broker and taken but not yet acked; null when the broker could not be asked. */
  backlogs: z
    .array(z.strictObject({ queue: Id, ready: Count.nullable(), unacked: Count.nullable() }))
    .nullable(),
  /** The sections that could not be read just now. */
  unavailable: z.array(z.string()),
});
export type Summary = z.infer<typeof Summary>;

const DAY_MS = 86_400_000;
const MAX_LISTED_REVIEWS = 20;

/** Read every fact once; a store that fails leaves its section null and named in `unavailable`. */
export async function collectSummary(
  source: DashboardSource,
  readiness: () => Promise<Summary['readiness']> = () => Promise.resolve(null),
): Promise<Summary> {
  const now = source.now();
  const unavailable: string[] = [];
  const attempt = async <T>(section: string, read: () => Promise<T>): Promise<T | null> => {
    try {
      return await read();
    } catch {
      unavailable.push(section);
      return null;
    }
  };
  // The in-memory facts are read in one go, before any I/O, so that counters, the in-flight count and
  // the lists agree with each other (a receipt handled meanwhile shows in all of them or in none).
  const inFlight = source.metrics.inFlight;
  const refusals = source.metrics.recentRefusals.newestFirst();
  const alerts = source.alerts.recent.newestFirst();
  const [counts, dlqDepth, pending, suspensions, ready, backlogs] = await Promise.all([
    source.metrics.messageCounts(),
    attempt('dlq', async () => (await source.dlqDepth()) ?? null),
    attempt('reviews', () => source.pendingReviews()),
    attempt('suspensions', () => source.suspensions.list()),
    attempt('readiness', readiness),
    attempt('backlogs', () => source.backlogs()),
  ]);
  if (dlqDepth === null && !unavailable.includes('dlq')) unavailable.push('dlq');
  const throughput = counts
    .filter((c) => c.direction === 'in' || c.direction === 'out')
    .map((c) => ({ ...c, direction: c.direction as 'in' | 'out' }))
    .sort((a, b) =>
      `${a.direction}/${a.kind}/${a.outcome}`.localeCompare(`${b.direction}/${b.kind}/${b.outcome}`),
    );
  const lifecycle = source.keys.lifecycle;
  const summary: Summary = {
    party: source.party,
    generatedAt: now.toISOString(),
    peerLink: source.links.peer.state,
    localBroker: source.links.local.state,
    throughput,
    inFlight,
    failed: {
      dlqDepth,
      noReceipt: throughput
        .filter((c) => c.direction === 'out' && c.outcome === 'failed')
        .reduce((sum, c) => sum + c.count, 0),
    },
    refusals,
    reviews: pending && { pending: pending.length, ids: pending.slice(0, MAX_LISTED_REVIEWS) },
    alerts: alerts.map((a) => ({
      code: a.code,
      at: a.at,
      ...(a.messageId !== undefined ? { messageId: a.messageId } : {}),
      ...(a.authority !== undefined ? { authority: a.authority } : {}),
      ...(a.kind !== undefined ? { kind: a.kind } : {}),
      ...(a.obligation !== undefined ? { obligation: a.obligation } : {}),
      ...(a.downForS !== undefined ? { downForS: a.downForS } : {}),
    })),
    openAlerts: source.alerts.openAlerts().map((a) => ({
      code: a.code,
      since: a.at,
      ...(a.key !== a.code ? { subject: a.key.slice(a.code.length + 1).slice(0, 200) } : {}),
    })),
    clearedAlerts: source.alerts.cleared
      .newestFirst()
      .map((a) => ({ code: a.code, since: a.since, at: a.at })),
    keys: source.keys.inventory().map((k) => {
      const r = recordOf(lifecycle, k.owner, k.kid);
      return {
        ...k,
        // A key with no record in key-state.json counts as active (lifecycle.ts).
        state: r?.state ?? 'active',
        ...(r?.nbf !== undefined ? { nbf: r.nbf } : {}),
        ...(r?.exp !== undefined
          ? { exp: r.exp, daysLeft: Math.floor((Date.parse(r.exp) - now.getTime()) / DAY_MS) }
          : {}),
      };
    }),
    keysUnusable: source.keys.unusable()?.slice(0, 2000) ?? null,
    suspensions: suspensions && {
      suspendedNow: CrimeCategory.options.filter((c) => suspendedBy(suspensions, [c], now) !== undefined),
      notices: suspensions.map((e) => ({
        id: e.id,
        party: e.party,
        action: e.action,
        scope: e.scope === 'all' ? ('all' as const) : [...e.scope.crimeCategories],
        ...(e.effectiveAt !== undefined ? { effectiveAt: e.effectiveAt } : {}),
        effective: e.effectiveAt !== undefined && Date.parse(e.effectiveAt) <= now.getTime(),
      })),
    },
    readiness: ready,
    backlogs,
    unavailable,
  };
  // The schema is the contract of /api/summary: what does not fit it is a bug, found here, not by a reader.
  return Summary.parse(summary);
}
