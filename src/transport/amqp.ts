/**
 * AMQP with amqplib, written to survive the broker: one connection per broker that reconnects with
 * back-off (amqplib recovers nothing unless asked), re-declares the topology and restarts the
 * consumers after every reconnect. Publishing goes through a confirm channel: every publish waits for
 * the broker's ack, with a timeout, and is `mandatory`, so an unroutable message is an error instead
 * of a silent drop; a publish in flight when the connection drops fails at once. The gateway's own
 * consumers run on transactional channels, so that what a delivery causes on the same broker (a
 * delivery to an inbox, an event, a dead letter) and the acknowledgement of that delivery commit
 * together. Each (re)connect goes through connect.ts, the one way every part of Accord connects
 * (TLS, heartbeat, `noDelay`).
 */
import { EventEmitter } from 'node:events';
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage, Message, Options } from 'amqplib';
import { commitTx, selectTx } from './amqp-tx.js';
import { PriorityGate } from './gate.js';
import { AccordError, UnroutableError } from '../errors.js';
import { brokerUser, connectBroker, isBrokerOutage, type BrokerSlice } from './connect.js';

interface CommonOptions {
  /** Shown in the broker's management UI. */
  name: string;
  /** AMQP heartbeat in seconds. @defaultValue the slice's `heartbeatS`, else 10 */
  heartbeatS?: number;
  confirmTimeoutMs: number;
  /** First reconnect delay; doubles up to `maxReconnectDelayMs`. @defaultValue 200 */
  reconnectDelayMs?: number;
  /** @defaultValue 5000 */
  maxReconnectDelayMs?: number;
}

/**
 * Which broker, and how: `broker` is the config's slice of it (`config.amqp`, or `config.peer`), TLS
 * files and all, opened by connect.ts like every other broker connection.
 */
export type AmqpOptions = CommonOptions & { broker: BrokerSlice };

/** Properties Accord sets on a publish. */
export interface PublishProps {
  messageId?: string;
  /** AMQP `user_id`: RabbitMQ refuses a publish whose user_id is not the connection's user. */
  userId?: string;
  contentType: string;
  type?: string;
  priority?: number;
  /** Per-message TTL in ms: the broker drops the message when it has waited this long (a heartbeat). */
  expirationMs?: number;
  headers?: Record<string, string | number | boolean>;
}

/** What a transactional consumer's handler may do; nothing takes effect before `commit()`. */
export interface Tx {
  /** Queue a persistent publish to a queue on this broker. */
  publish(queue: string, content: Buffer, props: PublishProps): void;
  /** Queue the acknowledgement of the delivery being handled. */
  ack(): void;
  /** Commit everything queued on this channel (group commit: one commit may carry several deliveries). */
  commit(): Promise<void>;
  /**
   * Hand over a write that must be durable before the commit, instead of waiting for it here (a
   * transfer's members: their records are fsync'ed together, before the transfer commits). Without it
   * the caller waits for the write itself.
   */
  beforeCommit?(durable: Promise<unknown>): void;
}

/**
 * What a connection tells of its own work on the broker, for the gateway's metrics: each message it
 * writes (by confirm, or in a transaction when the frame is written) and each transaction the broker
 * committed. Called on the hot path: an increment, nothing more.
 */
export interface BrokerTally {
  /** One message written, to `queue` (the routing key, for a publish through an exchange). */
  published(queue: string): void;
  /** One tx.commit answered commit-ok. */
  committed(): void;
}

/** A handler's verdict: done (it acked and committed), or requeue the delivery after a pause. */
export type TxOutcome = 'done' | { requeueAfterMs: number };

type TxHandler = (msg: ConsumeMessage, tx: Tx) => Promise<TxOutcome>;
type PlainHandler = (msg: ConsumeMessage) => Promise<void>;

/** What consumeWithBarriers runs: the handler, and which deliveries are barriers. */
interface BarrierSpec {
  handler: PlainHandler;
  isBarrier: (msg: ConsumeMessage) => boolean;
  retryDelayMs: number;
}

interface ConsumerSpec {
  queue: string;
  prefetch: number;
  /** Handlers at once (the rest of the prefetch waits, urgent ones never); none: as many as delivered. */
  admission?: { concurrency: number; urgent: (msg: ConsumeMessage) => boolean };
  tx?: TxHandler;
  plain?: PlainHandler;
  /** Barrier deliveries wait for every delivery before them; a failure is retried in place, never requeued. */
  barriers?: BarrierSpec;
  /** Take only what `take` says is this consumer's; leave the rest unacknowledged (consumeSome). */
  some?: { take: (msg: ConsumeMessage) => Promise<boolean>; priority: number };
  onError: (err: unknown, msg: ConsumeMessage) => void;
}

interface Pending {
  resolve: () => void;
  reject: (err: unknown) => void;
  timer: NodeJS.Timeout;
}

/** A consumer's channel in the current generation, and whether it is subscribed now. */
interface LiveConsumer {
  gen: Generation;
  ch: Channel;
  /** The consumer tag while subscribed; undefined while paused. */
  tag: string | undefined;
  subscribe: () => Promise<void>;
}

/** One connection's channels; replaced whole after every reconnect. */
interface Generation {
  model: ChannelModel;
  pub: ConfirmChannel;
  pending: Map<string, Pending>;
  returned: Set<string>;
  blocked: boolean;
  drainWaiters: (() => void)[];
  dead: boolean;
  /** Per queue, deliveries to this generation's consumers not acked or nacked yet. */
  unacked: Map<string, number>;
}

/** What one delivery's handler wants committed: frames to write, then a commit. */
interface Batch {
  ops: (() => void)[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit on one transactional channel. RabbitMQ refuses any frame on a channel while its
 * tx.commit is outstanding ("unexpected command while processing 'tx.commit'"), and amqplib queues
 * only RPCs, not publishes and acks. So each handler's publishes and ack are buffered, and written
 * only between commits: all batches that queued up during one commit go out together, followed by
 * the next commit.
 */
class TxCommitter {
  private queue: Batch[] = [];
  private running = false;

  constructor(
    private readonly ch: Channel,
    private readonly isDead: () => boolean,
    private readonly onCommitted: () => void,
  ) {}

  submit(ops: (() => void)[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ ops, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0) {
        const batches = this.queue;
        this.queue = [];
        try {
          if (this.isDead()) throw new AccordError('infra.unavailable', 'channel lost');
          for (const b of batches) for (const op of b.ops) op();
          await commitTx(this.ch);
          this.onCommitted();
          batches.forEach((b) => b.resolve());
        } catch (err) {
          batches.forEach((b) => b.reject(err));
        }
      }
    } finally {
      this.running = false;
    }
  }
}

/** A delay of `ms`, unref'd so that it never holds the process open. */
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/**
 * One broker, kept connected. Emits `up` after each (re)connect and `down` (with the error) when the
 * connection is lost; it then reconnects by itself until `close()`.
 */
export class AmqpConnection extends EventEmitter {
  private gen: Generation | undefined;
  private closing = false;
  private reconnecting = false;
  private closed: Promise<void> | undefined;
  private seq = 0;
  private readonly topology: { queues: readonly string[]; args: Record<string, unknown> }[] = [];
  private readonly routes: { exchange: string; queue: string; routingKey: string }[] = [];
  private readonly consumers: ConsumerSpec[] = [];
  /** Queues whose consumers take nothing until resumed (pauseConsuming). */
  private readonly paused = new Set<string>();
  private readonly live = new Map<ConsumerSpec, LiveConsumer>();
  /** Per consumer, the last subscription change: changes run one at a time. */
  private readonly changes = new Map<ConsumerSpec, Promise<void>>();
  private upWaiters: (() => void)[] = [];
  private readonly opts: CommonOptions;
  private readonly broker: BrokerSlice;
  private tally: BrokerTally | undefined;

  private constructor(opts: AmqpOptions) {
    super();
    this.opts = opts;
    this.broker = opts.broker;
  }

  /** The broker user this connection logs in as, the only `user_id` it may publish with. */
  get user(): string {
    return brokerUser(this.broker);
  }

  /** Count this connection's publishes and commits from now on (the gateway's metrics). */
  countWith(tally: BrokerTally): void {
    this.tally = tally;
  }

  /** Connect; `infra.unavailable` when the first attempt fails (a misconfiguration should fail fast). */
  static async open(opts: AmqpOptions): Promise<AmqpConnection> {
    const conn = new AmqpConnection(opts);
    try {
      await conn.connectOnce();
    } catch (err) {
      // A set-up that failed half-way has started a reconnect loop nobody would stop.
      await conn.close();
      throw err;
    }
    return conn;
  }

  /**
   * Connect as {@link open} does, except through an outage: when the broker cannot be reached
   * (`infra.unavailable`), the connection is returned down (`isUp` false) and keeps trying with
   * back-off, emitting `up` once it connects. What a retry cannot fix (a refused login, a certificate
   * that does not verify, a malformed URL, unusable TLS files) still fails at once. For the peer's
   * broker, which the other party runs: a gateway must start, and take its own authorities'
   * submissions in, while that broker is away.
   */
  static async openOrWait(opts: AmqpOptions): Promise<AmqpConnection> {
    const conn = new AmqpConnection(opts);
    try {
      await conn.connectOnce();
    } catch (err) {
      if (!isBrokerOutage(err)) {
        await conn.close();
        throw err;
      }
      // A set-up that failed after connecting has started the loop already (lose()).
      if (!conn.reconnecting) void conn.reconnect();
    }
    return conn;
  }

  /** Whether the connection is up now. */
  get isUp(): boolean {
    return this.gen !== undefined && !this.gen.dead;
  }

  private async connectOnce(): Promise<void> {
    // TLS files are read at each (re)connect: a renewed client certificate is picked up.
    const model = await connectBroker(this.broker, {
      name: this.opts.name,
      heartbeatS: this.opts.heartbeatS,
    });
    if (this.closing) {
      // Closed while this attempt dialled (a gateway stopped during an outage): nothing may stay open.
      await model.close().catch(() => undefined);
      throw new AccordError('infra.unavailable', `connection ${this.opts.name} is closed`);
    }
    const gen: Generation = {
      model,
      pub: undefined as unknown as ConfirmChannel,
      pending: new Map(),
      returned: new Set(),
      blocked: false,
      drainWaiters: [],
      dead: false,
      unacked: new Map(),
    };
    model.on('error', (err: Error) => this.lose(gen, err));
    model.on('close', () => this.lose(gen, new Error('connection closed')));
    model.on('blocked', (reason: string) => this.emit('blocked', reason));
    model.on('unblocked', () => this.emit('unblocked'));
    try {
      gen.pub = await model.createConfirmChannel();
      gen.pub.on('error', (err: Error) => this.lose(gen, err));
      gen.pub.on('close', () => this.lose(gen, new Error('publish channel closed')));
      gen.pub.on('return', (msg: ConsumeMessage) => {
        const seq = msg.properties.headers?.['x-accord-seq'] as unknown;
        if (typeof seq === 'string') gen.returned.add(seq);
      });
      gen.pub.on('drain', () => {
        gen.blocked = false;
        const waiters = gen.drainWaiters;
        gen.drainWaiters = [];
        waiters.forEach((w) => w());
      });
      this.gen = gen;
      for (const t of this.topology) await this.declare(gen, t.queues, t.args);
      for (const r of this.routes) await this.declareRoute(gen, r.exchange, r.queue, r.routingKey);
      for (const c of this.consumers) await this.startConsumer(gen, c);
    } catch (err) {
      this.lose(gen, err instanceof Error ? err : new Error(String(err)));
      throw new AccordError(
        'infra.unavailable',
        `RabbitMQ set-up failed for ${this.opts.name}: ${describe(err)}`,
        {
          cause: err,
        },
      );
    }
    const waiters = this.upWaiters;
    this.upWaiters = [];
    waiters.forEach((w) => w());
    this.emit('up');
  }

  /** Tear a generation down once; pending publishes fail at once; then reconnect with back-off. */
  private lose(gen: Generation, err: Error, reconnect = true): void {
    if (gen.dead) return;
    gen.dead = true;
    for (const p of gen.pending.values()) {
      clearTimeout(p.timer);
      p.reject(
        new AccordError('infra.unavailable', `connection ${this.opts.name} lost before the broker confirmed`),
      );
    }
    gen.pending.clear();
    gen.drainWaiters.forEach((w) => w());
    gen.model.close().catch(() => undefined);
    if (this.closing || !reconnect || this.reconnecting) return;
    this.emit('down', err);
    void this.reconnect();
  }

  /** The one reconnect loop of this connection (a flag guards against a second). */
  private async reconnect(): Promise<void> {
    this.reconnecting = true;
    let delay = this.opts.reconnectDelayMs ?? 200;
    const max = this.opts.maxReconnectDelayMs ?? 5000;
    try {
      while (!this.closing) {
        await sleep(delay * (0.8 + Math.random() * 0.4));
        if (this.closing) return;
        try {
          await this.connectOnce();
          return;
        } catch (err) {
          this.emit('reconnect-failed', err);
          delay = Math.min(max, delay * 2);
        }
      }
    } finally {
      this.reconnecting = false;
    }
  }

  private async declare(
    gen: Generation,
    queues: readonly string[],
    args: Record<string, unknown>,
  ): Promise<void> {
    const ch = await gen.model.createChannel();
    try {
      for (const q of queues) await ch.assertQueue(q, { durable: true, arguments: args });
    } finally {
      await ch.close().catch(() => undefined);
    }
  }

  /**
   * Messages ready in each of `queues` (one channel for all; a queue that does not exist is left out),
   * and the deliveries this connection's consumers hold unacknowledged, by queue.
   */
  async backlog(queues: readonly string[]): Promise<{ queue: string; ready: number; unacked: number }[]> {
    const gen = await this.current();
    const out: { queue: string; ready: number; unacked: number }[] = [];
    let ch: Channel | undefined;
    try {
      for (const queue of queues) {
        if (ch === undefined) {
          ch = await gen.model.createChannel();
          ch.on('error', () => undefined); // a missing queue closes this channel only
        }
        try {
          const { messageCount } = await ch.checkQueue(queue);
          out.push({ queue, ready: messageCount, unacked: gen.unacked.get(queue) ?? 0 });
        } catch {
          ch = undefined;
        }
      }
    } finally {
      await ch?.close().catch(() => undefined);
    }
    return out;
  }

  /** Messages ready in a queue, or undefined when the queue does not exist. */
  async messageCount(queue: string): Promise<number | undefined> {
    return (await this.queueCounts(queue))?.messageCount;
  }

  /** Consumers of a queue, or undefined when the queue does not exist. */
  async consumerCount(queue: string): Promise<number | undefined> {
    return (await this.queueCounts(queue))?.consumerCount;
  }

  /**
   * Whether an exchange exists. Asked on a channel of its own, which the broker closes when it does not:
   * a publish to a missing exchange would close the publishing channel, and with it this connection.
   * Rejects when the broker cannot be asked.
   */
  async exchangeExists(exchange: string): Promise<boolean> {
    const gen = await this.current();
    const ch = await gen.model.createChannel();
    ch.on('error', () => undefined); // a missing exchange closes this channel only
    try {
      await ch.checkExchange(exchange);
      return true;
    } catch (err) {
      if ((err as { code?: number }).code === 404) return false;
      throw err;
    } finally {
      await ch.close().catch(() => undefined);
    }
  }

  private async queueCounts(
    queue: string,
  ): Promise<{ messageCount: number; consumerCount: number } | undefined> {
    const gen = await this.current();
    const ch = await gen.model.createChannel();
    ch.on('error', () => undefined); // a missing queue closes this channel only
    try {
      return await ch.checkQueue(queue);
    } catch {
      return undefined;
    } finally {
      await ch.close().catch(() => undefined);
    }
  }

  /**
   * Read what is ready in an existing queue, one message at a time (basic.get): `handler`, then the
   * ack. Resolves with the number read, or undefined when the queue does not exist; a handler that
   * throws ends the drain (its message goes back to the queue with the channel) and rejects with it.
   */
  async drainQueue(queue: string, handler: (msg: Message) => Promise<void>): Promise<number | undefined> {
    const gen = await this.current();
    const ch = await gen.model.createChannel();
    ch.on('error', () => undefined); // a missing queue closes this channel only
    try {
      try {
        await ch.checkQueue(queue);
      } catch (err) {
        if ((err as { code?: number }).code === 404) return undefined;
        throw err;
      }
      for (let n = 0; ; n++) {
        const msg = await ch.get(queue, { noAck: false });
        if (msg === false) return n;
        await handler(msg);
        ch.ack(msg);
      }
    } finally {
      await ch.close().catch(() => undefined);
    }
  }

  /**
   * Declare a durable direct exchange bound to a queue (routing key: the queue's name unless given),
   * now and after every reconnect.
   */
  async assertRoute(exchange: string, queue: string, routingKey: string = queue): Promise<void> {
    this.routes.push({ exchange, queue, routingKey });
    const gen = await this.current();
    await this.declareRoute(gen, exchange, queue, routingKey);
  }

  /**
   * Remove a binding if it exists (a setting turned off since the last start). Best effort: a broker
   * user without the right to unbind leaves it, and the caller loses only what the binding announced.
   */
  async removeRoute(exchange: string, queue: string, routingKey: string): Promise<void> {
    const gen = await this.current();
    const ch = await gen.model.createChannel();
    ch.on('error', () => undefined);
    try {
      await ch.unbindQueue(queue, exchange, routingKey);
    } catch {
      // Refused, or the exchange is not there yet: nothing to remove that this user may remove.
    } finally {
      await ch.close().catch(() => undefined);
    }
  }

  private async declareRoute(
    gen: Generation,
    exchange: string,
    queue: string,
    routingKey: string,
  ): Promise<void> {
    const ch = await gen.model.createChannel();
    try {
      await ch.assertExchange(exchange, 'direct', { durable: true });
      await ch.bindQueue(queue, exchange, routingKey);
    } finally {
      await ch.close().catch(() => undefined);
    }
  }

  /** Declare durable queues now and after every reconnect. */
  async assertQueues(queues: readonly string[], args: Record<string, unknown> = {}): Promise<void> {
    this.topology.push({ queues, args });
    const gen = await this.current();
    await this.declare(gen, queues, args);
  }

  /** The live generation, waiting up to the confirm timeout for a reconnect. */
  private async current(): Promise<Generation> {
    if (this.closing) throw new AccordError('infra.unavailable', `connection ${this.opts.name} is closed`);
    if (this.gen && !this.gen.dead) return this.gen;
    await Promise.race([new Promise<void>((r) => this.upWaiters.push(r)), sleep(this.opts.confirmTimeoutMs)]);
    if (!this.gen || this.gen.dead || this.closing) {
      throw new AccordError('infra.unavailable', `RabbitMQ for ${this.opts.name} is unreachable`);
    }
    return this.gen;
  }

  /**
   * Publish persistently to a queue through the default exchange and wait for the broker's confirm.
   * Rejects when the broker nacks, when the message is unroutable (no such queue), when the
   * connection is lost, or on timeout; never hangs.
   */
  async publish(queue: string, content: Buffer, props: PublishProps): Promise<void> {
    return this.publishVia('', queue, content, props);
  }

  /** The same through an exchange, with a routing key (the name of the queue it is bound to). */
  async publishVia(
    exchange: string,
    routingKey: string,
    content: Buffer,
    props: PublishProps,
  ): Promise<void> {
    const queue = routingKey;
    const gen = await this.current();
    // Backpressure: while the socket buffer is full, wait for `drain` instead of buffering without bound.
    while (gen.blocked && !gen.dead) await new Promise<void>((r) => gen.drainWaiters.push(r));
    if (gen.dead) throw new AccordError('infra.unavailable', `connection ${this.opts.name} lost`);
    const seq = `${++this.seq}`;
    const options = publishOptions(props, { 'x-accord-seq': seq });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        gen.pending.delete(seq);
        reject(
          new AccordError('infra.unavailable', `no broker confirm within ${this.opts.confirmTimeoutMs} ms`),
        );
      }, this.opts.confirmTimeoutMs);
      gen.pending.set(seq, { resolve, reject, timer });
      const ok = gen.pub.publish(exchange, routingKey, content, { ...options, mandatory: true }, (err) => {
        const p = gen.pending.get(seq);
        if (!p) return;
        gen.pending.delete(seq);
        clearTimeout(p.timer);
        const wasReturned = gen.returned.delete(seq);
        if (err) p.reject(new AccordError('infra.unavailable', `broker refused the publish to ${queue}`));
        else if (wasReturned) p.reject(new UnroutableError(queue));
        else p.resolve();
      });
      this.tally?.published(routingKey);
      if (!ok) gen.blocked = true;
    });
  }

  /**
   * Consume a queue on a transactional channel with manual acks and bounded prefetch, now and after
   * every reconnect. A handler that throws has its delivery requeued after `retryDelayMs`.
   */
  async consumeTx(
    queue: string,
    prefetch: number,
    handler: TxHandler,
    onError: (err: unknown, msg: ConsumeMessage) => void,
    admission?: ConsumerSpec['admission'],
  ): Promise<void> {
    const spec: ConsumerSpec = { queue, prefetch, tx: handler, onError, ...(admission ? { admission } : {}) };
    await this.register(spec);
  }

  /** Consume with plain acks: the delivery is acked when the handler resolves, requeued when it throws. */
  async consume(
    queue: string,
    prefetch: number,
    handler: PlainHandler,
    onError: ConsumerSpec['onError'],
  ): Promise<void> {
    const spec: ConsumerSpec = { queue, prefetch, plain: handler, onError };
    await this.register(spec);
  }

  /**
   * Consume with plain acks, where some deliveries are barriers: a barrier is handled only once every
   * delivery before it (on this channel) has been handled and acked; the others are handled as they
   * come. A handler that throws is retried in place after `retryDelayMs`, until it succeeds or the
   * channel goes, and the delivery is never nacked: a quorum queue (RabbitMQ 3.10, no delivery limit)
   * puts a nacked message at the back, behind what was published after it. When the channel goes,
   * the broker returns the unacked deliveries ahead of everything else (classic: original position;
   * quorum: returned messages are served first). With `x-single-active-consumer` on the queue, "the
   * consumer handled barrier B" then means "every message before B has been handled"
   * (transport/delivered-log.ts).
   */
  async consumeWithBarriers(
    queue: string,
    prefetch: number,
    handler: PlainHandler,
    isBarrier: (msg: ConsumeMessage) => boolean,
    onError: ConsumerSpec['onError'],
    retryDelayMs = 1000,
  ): Promise<void> {
    const spec: ConsumerSpec = { queue, prefetch, barriers: { handler, isBarrier, retryDelayMs }, onError };
    await this.register(spec);
  }

  /**
   * Consume a queue for some of its deliveries only, as a passer-by beside the queue's own consumer:
   * a delivery for which `take` resolves true is acked; every other one stays unacknowledged, and the
   * broker gives it back to the queue, in its place, when this connection closes. With a consumer
   * `priority` above the others' (they have 0), the broker offers every delivery to this consumer
   * first while it has room in `prefetch`, so what it looks for cannot go to the other consumer.
   */
  async consumeSome(
    queue: string,
    prefetch: number,
    priority: number,
    take: (msg: ConsumeMessage) => Promise<boolean>,
    onError: ConsumerSpec['onError'],
  ): Promise<void> {
    const spec: ConsumerSpec = { queue, prefetch, some: { take, priority }, onError };
    await this.register(spec);
  }

  /**
   * Start a consumer now and after every reconnect. One that cannot start now (its queue does not
   * exist: 404) is forgotten again, so that a reconnect does not run into the same refusal forever.
   */
  private async register(spec: ConsumerSpec): Promise<void> {
    this.consumers.push(spec);
    try {
      await this.startConsumer(await this.current(), spec);
    } catch (err) {
      const i = this.consumers.indexOf(spec);
      if (i >= 0) this.consumers.splice(i, 1);
      throw err;
    }
  }

  /** Run a handler on one delivery until it succeeds (then ack) or the channel is gone. */
  private async handleUntilDone(
    gen: Generation,
    ch: Channel,
    spec: ConsumerSpec,
    barriers: BarrierSpec,
    msg: ConsumeMessage,
  ): Promise<void> {
    // A dead channel's unacked deliveries go back to the queue; the next generation handles them.
    while (!gen.dead) {
      try {
        await barriers.handler(msg);
      } catch (err) {
        spec.onError(err, msg);
        await sleep(barriers.retryDelayMs);
        continue;
      }
      try {
        ch.ack(msg);
      } catch {
        // channel gone: the broker returns it, and handling it again is idempotent
      }
      return;
    }
  }

  private async startConsumer(gen: Generation, spec: ConsumerSpec): Promise<void> {
    // Counted for the backlog gauges: +1 when a delivery arrives, -1 when it is acked or nacked.
    const held = (change: 1 | -1): void => {
      gen.unacked.set(spec.queue, Math.max(0, (gen.unacked.get(spec.queue) ?? 0) + change));
    };
    const ch: Channel = await gen.model.createChannel();
    ch.on('error', (err: Error) => this.lose(gen, err));
    ch.on('close', () => this.lose(gen, new Error(`consumer channel for ${spec.queue} closed`)));
    await ch.prefetch(spec.prefetch);
    const { some } = spec;
    if (some) {
      await this.subscribeWhenNotPaused(gen, ch, spec, {
        options: { arguments: { 'x-priority': some.priority } },
        onMessage: (msg) => {
          held(1);
          some.take(msg).then(
            (took) => {
              if (took && !gen.dead) {
                ch.ack(msg);
                held(-1);
              }
            },
            (err: unknown) => spec.onError(err, msg),
          );
        },
      });
      return;
    }
    // tx.select before consuming: no delivery (and so no handler frame) can arrive before it is done.
    if (spec.tx) await selectTx(ch);
    const committer = new TxCommitter(
      ch,
      () => gen.dead,
      () => this.tally?.committed(),
    );
    // One gate per channel: a reconnect starts with an empty one, as the broker requeued the rest.
    const gate = spec.admission ? new PriorityGate(spec.admission.concurrency) : undefined;
    // consumeWithBarriers: the handling of each delivery not finished yet (at most `prefetch`).
    const unfinished = new Set<Promise<void>>();
    const requeue = (msg: ConsumeMessage, afterMs: number) => {
      setTimeout(() => {
        if (gen.dead) return; // the broker requeues it anyway when the channel goes
        if (spec.tx) {
          committer
            .submit([
              () => {
                ch.nack(msg, false, true);
                held(-1);
              },
            ])
            .catch(() => undefined);
          return;
        }
        try {
          ch.nack(msg, false, true);
          held(-1);
        } catch {
          // channel gone: the broker requeues it
        }
      }, afterMs).unref();
    };
    const onMessage = (msg: ConsumeMessage) => {
      held(1);
      const { barriers } = spec;
      if (barriers) {
        const earlier = barriers.isBarrier(msg) ? [...unfinished] : [];
        // handleUntilDone never rejects.
        const done = Promise.all(earlier)
          .then(() => this.handleUntilDone(gen, ch, spec, barriers, msg))
          .then(() => held(-1));
        unfinished.add(done);
        void done.then(() => unfinished.delete(done));
        return;
      }
      const run = async (): Promise<TxOutcome> => {
        if (spec.plain) {
          await spec.plain(msg);
          if (!gen.dead) {
            ch.ack(msg);
            held(-1);
          }
          return 'done';
        }
        if (gen.dead) return 'done'; // waited at the gate past a lost connection: the broker requeued it
        let ops: (() => void)[] = [];
        const tx: Tx = {
          publish: (queue, content, props) => {
            const options = publishOptions(props, {});
            ops.push(() => {
              ch.sendToQueue(queue, content, options);
              this.tally?.published(queue);
            });
          },
          ack: () => {
            ops.push(() => {
              ch.ack(msg);
              held(-1);
            });
          },
          commit: () => {
            const batch = ops;
            ops = [];
            return committer.submit(batch);
          },
        };
        return spec.tx!(msg, tx);
      };
      const admitted = gate ? () => gate.run(spec.admission!.urgent(msg), run) : run;
      admitted().then(
        (outcome) => {
          if (outcome !== 'done') requeue(msg, outcome.requeueAfterMs);
        },
        (err: unknown) => {
          spec.onError(err, msg);
          requeue(msg, 1000);
        },
      );
    };
    await this.subscribeWhenNotPaused(gen, ch, spec, { onMessage });
  }

  /**
   * Subscribe a consumer's channel to its queue, unless the queue is paused (then `resumeConsuming`
   * subscribes it). A cancellation by the broker (a deleted queue, a failover) ends the generation.
   */
  private async subscribeWhenNotPaused(
    gen: Generation,
    ch: Channel,
    spec: ConsumerSpec,
    how: { onMessage: (msg: ConsumeMessage) => void; options?: Options.Consume },
  ): Promise<void> {
    const live: LiveConsumer = {
      gen,
      ch,
      tag: undefined,
      subscribe: async () => {
        const { consumerTag } = await ch.consume(
          spec.queue,
          (msg) => {
            if (msg === null) {
              this.lose(gen, new Error(`consumer of ${spec.queue} was cancelled by the broker`));
              return;
            }
            how.onMessage(msg);
          },
          how.options,
        );
        live.tag = consumerTag;
      },
    };
    this.live.set(spec, live);
    await this.applyPause(spec);
  }

  /**
   * Stop taking deliveries from `queue` — now, and after every reconnect — until `resumeConsuming`:
   * what is ready stays on the queue, in the broker, and deliveries already taken are finished. For
   * the outbox while the peer's broker is away: nothing could be sent, and the submissions wait where
   * they are safe instead of in this process's memory.
   */
  async pauseConsuming(queue: string): Promise<void> {
    this.paused.add(queue);
    await this.applyPauses(queue);
  }

  /** Take deliveries from `queue` again after {@link pauseConsuming}. */
  async resumeConsuming(queue: string): Promise<void> {
    this.paused.delete(queue);
    await this.applyPauses(queue);
  }

  /** applyPause for each consumer of `queue`; a channel lost meanwhile is left to the next generation. */
  private async applyPauses(queue: string): Promise<void> {
    const specs = this.consumers.filter((c) => c.queue === queue);
    await Promise.all(specs.map((c) => this.applyPause(c).catch(() => undefined)));
  }

  /**
   * Bring a consumer's subscription in line with whether its queue is paused; one change at a time per
   * consumer. Rejects when the broker refuses the change (the channel then ends its generation, and
   * the next one subscribes as the pause says).
   */
  private applyPause(spec: ConsumerSpec): Promise<void> {
    const change = async () => {
      const live = this.live.get(spec);
      if (live === undefined || live.gen.dead) return;
      const paused = this.paused.has(spec.queue);
      if (paused && live.tag !== undefined) {
        const tag = live.tag;
        live.tag = undefined;
        await live.ch.cancel(tag);
      } else if (!paused && live.tag === undefined) {
        await live.subscribe();
      }
    };
    const next = (this.changes.get(spec) ?? Promise.resolve()).then(change);
    this.changes.set(
      spec,
      next.catch(() => undefined),
    );
    return next;
  }

  /** Close the connection for good; safe to call more than once. */
  close(): Promise<void> {
    this.closing = true;
    this.closed ??= (async () => {
      const gen = this.gen;
      if (gen && !gen.dead) {
        gen.dead = true;
        for (const p of gen.pending.values()) {
          clearTimeout(p.timer);
          p.reject(new AccordError('infra.unavailable', `connection ${this.opts.name} closed`));
        }
        await gen.model.close().catch(() => undefined);
      }
      this.upWaiters.forEach((w) => w());
    })();
    return this.closed;
  }
}

function publishOptions(props: PublishProps, extraHeaders: Record<string, string>): Options.Publish {
  return {
    persistent: true,
    contentType: props.contentType,
    timestamp: Math.floor(Date.now() / 1000),
    headers: { ...props.headers, ...extraHeaders },
    ...(props.messageId === undefined ? {} : { messageId: props.messageId }),
    ...(props.userId === undefined ? {} : { userId: props.userId }),
    ...(props.type === undefined ? {} : { type: props.type }),
    ...(props.priority === undefined ? {} : { priority: props.priority }),
    ...(props.expirationMs === undefined ? {} : { expiration: String(props.expirationMs) }),
  };
}

function describe(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return e.code ?? e.message ?? 'unknown error';
}
