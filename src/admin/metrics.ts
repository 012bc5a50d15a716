/**
 * Prometheus metrics of one gateway (prom-client, a registry per gateway so that several can run in
 * one process): what the pipelines count, gauges read when scraped, and prom-client's default process
 * and Node.js metrics. Labels carry kinds, outcomes, codes, grounds and queue names — never ids or
 * content. By Prometheus's conventions: base units (seconds, timestamps in seconds), one counter per
 * thing counted (a sum over a counter's labels never counts a message twice), and no label that is the
 * same on every series: which party and version a gateway is shows once, in `accord_build_info`, and
 * which instance in the target labels Prometheus adds.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Names } from '../config.js';
import type { Metrics, RefusalFacts } from '../pipeline/ports.js';
import type { BrokerTally } from '../transport/amqp.js';
import { Ring } from './ring.js';

/** Read at scrape time; each returns a number, or throws when it cannot be known. */
export interface Probes {
  dlqDepth(): Promise<number | undefined>;
  peerLinkUp(): boolean;
  localBrokerUp(): boolean;
  pendingReviews(): Promise<number>;
  suspensionsInForce(): Promise<number>;
  /** Art. 10(1), 11(2): consent requests this party sent that have no answer yet. */
  consentsPending(): Promise<number>;
  /** Art. 10(5): personal data received whose deadline (`due`) or confirmation grace (`overdue`) passed. */
  destructions(): Promise<{ due: number; overdue: number }>;
  /** When each key expires (epoch ms); keys without an expiry are left out. */
  keyExpiries(): { kid: string; owner: string; use: string; expiresAtMs: number }[];
  /** Messages ready in each of the gateway's queues, and held by its consumers unacknowledged. */
  backlog(): Promise<{ queue: string; ready: number; unacked: number }[]>;
  /** When the peer gateway was last heard from (epoch ms), if ever. */
  peerLastHeard(): number | undefined;
  /** Whether an own signing key and a peer encryption key are usable (the readiness `keys` check). */
  keysUsable(): boolean;
  /** The alert conditions open in this process, by code. */
  openAlerts(): { code: string }[];
}

/** What `accord_build_info` says about the gateway. */
export interface BuildInfo {
  version: string;
  party: string;
  /** The config's namespace; empty when none. */
  namespace: string;
}

/** The outcome prefixes of a review decision and a confirmed destruction, counted apart. */
const REVIEW = 'review-';
const DESTROYED = 'destroyed-';

/** Outcomes that end a sent message's wait for its receipt (see {@link GatewayMetrics.inFlight}). */
const SETTLED = new Set(['delivered', 'refused', 'in-review', 'held', 'failed']);

/**
 * What a message the gateway publishes is, for `accord_broker_published_total`: to the peer (a message
 * or a receipt) or a heartbeat to it; on the own broker a delivery to an inbox, a status event, a
 * delivered-log line, a dead letter, a correction held for its original, a request held for review,
 * or anything else.
 */
export const PUBLISHED_KINDS = [
  'peer',
  'heartbeat',
  'inbox',
  'event',
  'delivered-log',
  'dead-letter',
  'held',
  'review',
  'other',
] as const;
export type PublishedKind = (typeof PUBLISHED_KINDS)[number];

/** What a publish on this party's own broker is, by its queue. */
export function localPublishKind(n: Names): (queue: string) => PublishedKind {
  const inbox = n.inbox('');
  const events = n.events('');
  const review = n.review('');
  return (queue) => {
    if (queue.startsWith(inbox)) return 'inbox';
    if (queue.startsWith(events)) return 'event';
    if (queue === n.deliveredLog || queue === n.legacyDeliveredLog) return 'delivered-log';
    if (queue === n.dlq) return 'dead-letter';
    if (queue === n.held) return 'held';
    if (queue.startsWith(review)) return 'review';
    return 'other';
  };
}

/** What a publish on the peer's broker is, by its routing key (`peer` its names). */
export function peerPublishKind(peer: Names): (routingKey: string) => PublishedKind {
  return (routingKey) => (routingKey === peer.heartbeatRoute ? 'heartbeat' : 'peer');
}

/** One refusal as the dashboard lists it: no explanation, nothing personal. */
export interface RecentRefusal extends RefusalFacts {
  at: string;
  grounds: string[];
}

/** One count of messages by direction, kind and outcome, as the dashboard shows it. */
export interface MessageCount {
  direction: string;
  kind: string;
  outcome: string;
  count: number;
}

export class GatewayMetrics implements Metrics {
  readonly registry = new Registry();
  /** The last refusals by this gateway, newest first (for the dashboard; lost on restart). */
  readonly recentRefusals: Ring<RecentRefusal>;
  private readonly sent: Counter;
  private readonly delivered: Counter;
  private readonly otherOutcomes: Counter;
  private readonly received: Counter;
  private readonly reviewDecisions: Counter;
  private readonly destructionsConfirmed: Counter;
  private readonly latency: Histogram;
  private readonly resends: Counter;
  private readonly refusals: Counter;
  private awaiting = 0;
  /** Counted in plain numbers on the hot path, handed to prom-client when scraped. */
  private readonly publishedCounts = Object.fromEntries(PUBLISHED_KINDS.map((k) => [k, 0])) as Record<
    PublishedKind,
    number
  >;
  private commitCount = 0;

  constructor(
    build: BuildInfo,
    probes: Probes,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.recentRefusals = new Ring<RecentRefusal>(20);
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'accord_build_info',
      help: 'Always 1: the version of this gateway, the party it stands for and its namespace',
      labelNames: ['version', 'party', 'namespace'],
      registers: [this.registry],
    }).set({ ...build }, 1);
    const counter = (name: string, help: string, labelNames: string[]) =>
      new Counter({ name, help, labelNames, registers: [this.registry] });
    this.sent = counter(
      'accord_messages_sent_total',
      'Messages sent to the peer gateway, by kind (each once, on its first publish; resends: accord_resends_total)',
      ['kind'],
    );
    this.delivered = counter(
      'accord_messages_delivered_total',
      'Messages sent to the peer whose signed receipt says delivered (or a duplicate of a delivered one), by kind',
      ['kind'],
    );
    this.otherOutcomes = counter(
      'accord_messages_outcomes_total',
      'Submissions and sent messages that ended otherwise than delivered, by kind and outcome (refused, in-review, held, failed: after sending; rejected, duplicate, exported: without sending)',
      ['kind', 'outcome'],
    );
    this.received = counter(
      'accord_messages_received_total',
      'Messages received from the peer gateway, by kind and what became of each (delivered, refused, in-review, applied, duplicate, parked)',
      ['kind', 'outcome'],
    );
    this.reviewDecisions = counter(
      'accord_review_decisions_total',
      'Art. 9(4) decisions on requests held for review, by decision',
      ['decision'],
    );
    this.destructionsConfirmed = counter(
      'accord_destructions_confirmed_total',
      'Art. 10(4), 10(5) destructions the authorities confirmed, by kind of the message destroyed and reason',
      ['kind', 'reason'],
    );
    this.latency = new Histogram({
      name: 'accord_receipt_latency_seconds',
      help: 'From sending a message to the peer until its signed receipt came back',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [this.registry],
    });
    this.resends = new Counter({
      name: 'accord_resends_total',
      help: 'Messages sent again because no receipt came in time',
      registers: [this.registry],
    });
    this.refusals = new Counter({
      name: 'accord_refusals_total',
      help: 'Art. 9(4) refusals of requests this party received (by a rule, a hook, a reviewer or the authority), by ground',
      labelNames: ['ground'],
      registers: [this.registry],
    });
    const publishedCounts = this.publishedCounts;
    new Counter({
      name: 'accord_broker_published_total',
      help: 'Messages this process wrote to a broker (its own or the peer’s), by what each is (peer, heartbeat, inbox, event, delivered-log, dead-letter, held, review, other)',
      labelNames: ['kind'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const kind of PUBLISHED_KINDS) this.inc({ kind }, publishedCounts[kind]);
      },
    });
    const commits = () => this.commitCount;
    new Counter({
      name: 'accord_broker_commits_total',
      help: 'AMQP transactions this process committed (one commit may carry several deliveries)',
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(commits());
      },
    });
    const gauge = (
      name: string,
      help: string,
      read: () => Promise<number | undefined> | number | undefined,
    ) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        async collect() {
          const v = await read();
          if (v !== undefined) this.set(v);
        },
      });
    gauge('accord_dlq_depth', 'Dead letters in accord.dlq not resolved by a late receipt', () =>
      probes.dlqDepth(),
    );
    gauge('accord_peer_link_up', '1 while the connection to the peer broker is up', () =>
      probes.peerLinkUp() ? 1 : 0,
    );
    gauge('accord_keys_usable', '1 while an own signing key and a peer encryption key are usable', () =>
      probes.keysUsable() ? 1 : 0,
    );
    new Gauge({
      name: 'accord_alerts_open',
      help: 'Alert conditions open in this process, by code (src/admin/alerts.ts; lost on restart)',
      labelNames: ['code'],
      registers: [this.registry],
      collect() {
        this.reset();
        const byCode = new Map<string, number>();
        for (const a of probes.openAlerts()) byCode.set(a.code, (byCode.get(a.code) ?? 0) + 1);
        for (const [code, n] of byCode) this.set({ code }, n);
      },
    });
    gauge('accord_local_broker_up', '1 while the connection to the local broker is up', () =>
      probes.localBrokerUp() ? 1 : 0,
    );
    gauge('accord_reviews_pending', 'Art. 9(4) inbound requests waiting for a decision', () =>
      probes.pendingReviews(),
    );
    gauge('accord_suspensions_in_force', 'Art. 17 suspension notices in force', () =>
      probes.suspensionsInForce(),
    );
    gauge('accord_consents_pending', 'Art. 10(1), 11(2) consent requests sent and not answered yet', () =>
      probes.consentsPending(),
    );
    gauge(
      'accord_destructions_due',
      'Art. 10(5) received messages whose destruction deadline passed, not yet confirmed destroyed',
      async () => (await probes.destructions()).due,
    );
    gauge(
      'accord_destructions_overdue',
      'Art. 10(5) of those, the ones past the confirmation grace (alert.destruction_overdue)',
      async () => (await probes.destructions()).overdue,
    );
    new Gauge({
      name: 'accord_key_expiry_timestamp_seconds',
      help: 'When a key expires (Unix time, seconds); keys without an expiry are not listed',
      labelNames: ['kid', 'owner', 'use'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const k of probes.keyExpiries()) {
          this.set({ kid: k.kid, owner: k.owner, use: k.use }, k.expiresAtMs / 1000);
        }
      },
    });
    gauge(
      'accord_peer_last_heard_timestamp_seconds',
      'When the peer gateway was last heard from — a heartbeat or any message (Unix time, seconds); absent until it was',
      () => {
        const t = probes.peerLastHeard();
        return t === undefined ? undefined : t / 1000;
      },
    );
    // One read of the broker per scrape for both gauges.
    let backlog: Promise<{ queue: string; ready: number; unacked: number }[]> | undefined;
    const readBacklog = () => {
      backlog ??= probes.backlog().finally(() => {
        backlog = undefined;
      });
      return backlog;
    };
    new Gauge({
      name: 'accord_queue_ready_messages',
      help: 'Messages ready (waiting for a consumer) in each of the gateway’s queues',
      labelNames: ['queue'],
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const q of await readBacklog()) this.set({ queue: q.queue }, q.ready);
      },
    });
    new Gauge({
      name: 'accord_queue_unacked_messages',
      help: 'Messages this process’s consumers have taken from each queue and not acknowledged yet',
      labelNames: ['queue'],
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const q of await readBacklog()) this.set({ queue: q.queue }, q.unacked);
      },
    });
    gauge(
      'accord_in_flight',
      'Messages sent to the peer and awaiting their receipt (counted by this process since it started)',
      () => this.awaiting,
    );
  }

  /**
   * Sent and awaiting a receipt: {@link sending} adds one before the first publish to the peer (takes it
   * back when that publish fails), and the first outcome that ends the wait (`delivered`, `refused`,
   * `in-review`, `failed`) takes one away. Counted in memory by this process: after a restart the
   * messages still in flight from before are not counted (and their receipts do not push it below zero);
   * with several processes per party, sum the gauge over them.
   */
  /**
   * Count a broker connection's publishes (each by `kindOf` its queue) and commits; for
   * `AmqpConnection.countWith`. An increment per call, nothing allocated.
   */
  brokerTally(kindOf: (queue: string) => PublishedKind): BrokerTally {
    return {
      published: (queue) => {
        this.publishedCounts[kindOf(queue)] += 1;
      },
      committed: () => {
        this.commitCount += 1;
      },
    };
  }

  get inFlight(): number {
    return this.awaiting;
  }

  sending(change: 1 | -1): void {
    this.awaiting = Math.max(0, this.awaiting + change);
  }

  message(direction: 'out' | 'in', kind: string, outcome: string): void {
    if (direction === 'out') {
      if (outcome === 'sent') this.sent.inc({ kind });
      else if (outcome === 'delivered') this.delivered.inc({ kind });
      else this.otherOutcomes.inc({ kind, outcome });
      if (SETTLED.has(outcome)) this.awaiting = Math.max(0, this.awaiting - 1);
      return;
    }
    if (outcome.startsWith(REVIEW)) this.reviewDecisions.inc({ decision: outcome.slice(REVIEW.length) });
    else if (outcome.startsWith(DESTROYED)) {
      this.destructionsConfirmed.inc({ kind, reason: outcome.slice(DESTROYED.length) });
    } else this.received.inc({ kind, outcome });
  }

  /** Every message count so far, by direction, kind and outcome (for the dashboard). */
  async messageCounts(): Promise<MessageCount[]> {
    // Read synchronously, one after the other in one tick: prom-client's get() of a counter without a
    // collect function returns its values as they are.
    const read = (c: Counter) => c.get();
    const [sent, delivered, other, received, reviews, destroyed] = await Promise.all([
      read(this.sent),
      read(this.delivered),
      read(this.otherOutcomes),
      read(this.received),
      read(this.reviewDecisions),
      read(this.destructionsConfirmed),
    ]);
    const out: MessageCount[] = [];
    const add = (direction: string, kind: string, outcome: string, count: number) =>
      out.push({ direction, kind, outcome, count });
    for (const v of sent.values) add('out', String(v.labels.kind), 'sent', v.value);
    for (const v of delivered.values) add('out', String(v.labels.kind), 'delivered', v.value);
    for (const v of other.values) add('out', String(v.labels.kind), String(v.labels.outcome), v.value);
    for (const v of received.values) add('in', String(v.labels.kind), String(v.labels.outcome), v.value);
    for (const v of reviews.values) add('in', 'request', `${REVIEW}${String(v.labels.decision)}`, v.value);
    for (const v of destroyed.values) {
      add('in', String(v.labels.kind), `${DESTROYED}${String(v.labels.reason)}`, v.value);
    }
    return out;
  }

  receiptLatency(seconds: number): void {
    if (Number.isFinite(seconds) && seconds >= 0) this.latency.observe(seconds);
  }

  resent(): void {
    this.resends.inc();
  }

  refused(grounds: readonly string[], facts?: RefusalFacts): void {
    for (const ground of grounds) this.refusals.inc({ ground });
    if (facts) {
      this.recentRefusals.push({
        at: this.now().toISOString(),
        messageId: facts.messageId,
        decidedBy: facts.decidedBy,
        grounds: [...grounds],
      });
    }
  }
}
