/**
 * Prometheus metrics of one gateway (prom-client, a registry per gateway so that several can run in
 * one process): what the pipelines count, and gauges read when scraped. Labels carry kinds, outcomes,
 * codes and grounds — never ids or content.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Metrics } from '../pipeline/ports.js';

/** Read at scrape time; each returns a number, or throws when it cannot be known. */
export interface Probes {
  dlqDepth(): Promise<number | undefined>;
  peerLinkUp(): boolean;
  localBrokerUp(): boolean;
  pendingReviews(): Promise<number>;
  suspensionsInForce(): Promise<number>;
}

export class GatewayMetrics implements Metrics {
  readonly registry = new Registry();
  private readonly messages: Counter;
  private readonly latency: Histogram;
  private readonly resends: Counter;
  private readonly refusals: Counter;

  constructor(party: string, probes: Probes) {
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
      help: 'Art. 9(4) refusals of requests by this gateway, by ground',
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
    gauge('accord_dlq_depth', 'Messages waiting in accord.dlq', () => probes.dlqDepth());
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
  }

  message(direction: 'out' | 'in', kind: string, outcome: string): void {
    this.messages.inc({ direction, kind, outcome });
  }

  receiptLatency(seconds: number): void {
    if (Number.isFinite(seconds) && seconds >= 0) this.latency.observe(seconds);
  }

  resent(): void {
    this.resends.inc();
  }

  refused(grounds: readonly string[]): void {
    for (const ground of grounds) this.refusals.inc({ ground });
  }
}
