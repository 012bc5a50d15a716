/**
 * Prometheus metrics of one gateway (prom-client, a registry per gateway so that several can run in
 * one process): what the pipelines count, and gauges read when scraped. Labels carry kinds, outcomes,
 * codes and grounds — never ids or content.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Metrics, RefusalFacts } from '../pipeline/ports.js';
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
  /** Days until each key expires (negative once expired); keys without an expiry are left out. */
  keyExpiries(): { kid: string; owner: string; use: string; days: number }[];
}

/** Outcomes that end a sent message's wait for its receipt (see {@link GatewayMetrics.inFlight}). */
const SETTLED = new Set(['delivered', 'refused', 'in-review', 'held', 'failed']);

/** One refusal as the dashboard lists it: no explanation, nothing personal. */
export interface RecentRefusal extends RefusalFacts {
  at: string;
  grounds: string[];
}

/** One sample of `accord_messages_total`. */
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
  private readonly messages: Counter;
  private readonly latency: Histogram;
  private readonly resends: Counter;
  private readonly refusals: Counter;
  private awaiting = 0;

  constructor(
    party: string,
    probes: Probes,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.recentRefusals = new Ring<RecentRefusal>(20);
    this.registry.setDefaultLabels({ party });
    this.messages = new Counter({
      name: 'accord_messages_total',
      help: 'Messages by direction (out: sent by this gateway, in: received from the peer), kind and outcome',
      labelNames: ['direction', 'kind', 'outcome'],
      registers: [this.registry],
    });
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
      name: 'accord_key_expiry_days',
      help: 'Days until a key expires (negative: expired); keys without an expiry are not listed',
      labelNames: ['kid', 'owner', 'use'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const k of probes.keyExpiries()) this.set({ kid: k.kid, owner: k.owner, use: k.use }, k.days);
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
  get inFlight(): number {
    return this.awaiting;
  }

  sending(change: 1 | -1): void {
    this.awaiting = Math.max(0, this.awaiting + change);
  }

  message(direction: 'out' | 'in', kind: string, outcome: string): void {
    this.messages.inc({ direction, kind, outcome });
    if (direction === 'out' && SETTLED.has(outcome)) this.awaiting = Math.max(0, this.awaiting - 1);
  }

  /** Every sample of `accord_messages_total` so far. */
  async messageCounts(): Promise<MessageCount[]> {
    const { values } = await this.messages.get();
    return values.map((v) => ({
      direction: String(v.labels.direction),
      kind: String(v.labels.kind),
      outcome: String(v.labels.outcome),
      count: v.value,
    }));
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
