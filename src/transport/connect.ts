/**
 * One way to connect (STYLE.md): the gateway, the `accord` command, the client, the demo, the bench
 * and the chaos suite open every broker connection here, from the config's slice of that broker, so
 * each has the same TLS (`amqp.tls` or `peer.tls`, see tls.ts), heartbeat, `noDelay` (Nagle's
 * algorithm costs a sealed message a delayed TCP ack: p50 28 ms against 3 ms) and a name in
 * the broker's management UI. And one way to submit: through the gateway's `accord.submit` exchange
 * with the connection's own user as AMQP `user_id`, the urgent lane as AMQP priority (docs/security.md).
 */
import amqp, { type ChannelModel, type ConfirmChannel, type Options } from 'amqplib';
import { names } from '../config.js';
import { AccordError } from '../errors.js';
import { redactUrl } from '../log.js';
import { URGENT_PRIORITY } from '../domain/envelope.js';
import { tlsSocketOptions, type TlsConfig } from './tls.js';

/**
 * A broker as the config names it: the `amqp` slice (`url`, `tls`, `heartbeatS`) for this gateway's
 * own broker, or the `peer` slice (`amqpUrl`, `tls`) for the peer's. Either is passed as it is.
 */
export type BrokerSlice =
  | {
      readonly url: string;
      readonly tls?: Readonly<TlsConfig> | undefined;
      readonly heartbeatS?: number | undefined;
    }
  | { readonly amqpUrl: string; readonly tls?: Readonly<TlsConfig> | undefined };

/** How to open one connection. */
export interface BrokerConnectOptions {
  /** Shown in the broker's management UI (`connection_name`). */
  name: string;
  /** AMQP heartbeat in seconds. @defaultValue the slice's `heartbeatS`, else 10 */
  heartbeatS?: number | undefined;
  /** A connection attempt that takes longer fails, in milliseconds. @defaultValue 10000 */
  timeoutMs?: number | undefined;
}

/** The broker URL of a slice. */
export function brokerUrl(slice: BrokerSlice): string {
  return 'url' in slice ? slice.url : slice.amqpUrl;
}

/**
 * The broker user a connection to this slice logs in as: the URL's user, or RabbitMQ's default
 * `guest` when the URL names none (amqplib's default). RabbitMQ refuses a publish whose `user_id` is
 * not this user, so it is the only `user_id` a submission can carry.
 */
export function brokerUser(slice: BrokerSlice): string {
  return decodeURIComponent(new URL(brokerUrl(slice)).username) || 'guest';
}

/**
 * Open a connection to the broker of `slice`. A failure to connect is `infra.unavailable` (naming the
 * URL without its password); unusable TLS material is `config.invalid` or `keys.invalid` at
 * `amqp.tls…` / `peer.tls…`, before anything is dialled.
 */
export async function connectBroker(slice: BrokerSlice, opts: BrokerConnectOptions): Promise<ChannelModel> {
  const url = brokerUrl(slice);
  const tls =
    slice.tls === undefined
      ? undefined
      : tlsSocketOptions(slice.tls, 'url' in slice ? 'amqp.tls' : 'peer.tls');
  const heartbeat = opts.heartbeatS ?? ('heartbeatS' in slice ? slice.heartbeatS : undefined) ?? 10;
  try {
    return await amqp.connect(url, {
      noDelay: true,
      heartbeat,
      clientProperties: { connection_name: opts.name },
      timeout: opts.timeoutMs ?? 10_000,
      ...tls,
    } as Options.Connect);
  } catch (err) {
    throw new AccordError(
      'infra.unavailable',
      `cannot connect to RabbitMQ at ${redactUrl(url)} for ${opts.name}: ${describe(err)}`,
      { cause: err },
    );
  }
}

/** What publishing a submission needs of a connection (an AmqpConnection). */
export interface SubmissionPublisher {
  /** The broker user the connection logged in as. */
  readonly user: string;
  publishVia(
    exchange: string,
    routingKey: string,
    content: Buffer,
    props: { contentType: string; userId?: string; priority?: number },
  ): Promise<void>;
}

/**
 * A plain confirm channel of a connection to `slice` as a {@link SubmissionPublisher}: for tools that
 * keep many publishes in flight on one channel (the bench) instead of an AmqpConnection.
 */
export function channelPublisher(ch: ConfirmChannel, slice: BrokerSlice): SubmissionPublisher {
  return {
    user: brokerUser(slice),
    publishVia: (exchange, routingKey, content, props) =>
      new Promise<void>((resolve, reject) => {
        ch.publish(exchange, routingKey, content, { persistent: true, ...props }, (err) =>
          err ? reject(err as Error) : resolve(),
        );
      }),
  };
}

/**
 * Publish a case system's submission (or export, decision, confirmation) to the gateway's outbox as
 * a case system must: through the `accord.submit` exchange, the only one an authority's broker user may
 * write to, with the connection's user as AMQP `user_id` (the gateway believes `from` only from that
 * authority's user) and, for an urgent one, the urgent lane's AMQP priority (Art. 9(1): it overtakes
 * bulk traffic from the outbox on). Resolves with the broker's confirm.
 */
export function publishSubmission(
  conn: SubmissionPublisher,
  namespace: string | undefined,
  content: Buffer,
  opts: { urgent?: boolean } = {},
): Promise<void> {
  const { submitExchange, outbox } = names(namespace);
  return conn.publishVia(submitExchange, outbox, content, {
    contentType: 'application/json',
    userId: conn.user,
    ...(opts.urgent === true ? { priority: URGENT_PRIORITY } : {}),
  });
}

/** A socket or TLS failure by its code (ECONNREFUSED, SELF_SIGNED_CERT_IN_CHAIN…), else its message. */
function describe(err: unknown): string {
  const e = err as { code?: unknown; message?: string };
  return typeof e.code === 'string' ? e.code : (e.message ?? 'unknown error');
}
