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

/** The config path of a slice's URL (`amqp.url` or `peer.amqpUrl`), for errors. */
export function brokerUrlField(slice: BrokerSlice): string {
  return 'url' in slice ? 'amqp.url' : 'peer.amqpUrl';
}

/**
 * Check that the slice's URL is one a connection can be dialled with: it parses, says `amqp:` or
 * `amqps:` and names a host. `config.invalid` at the URL's config path when not; the message never
 * repeats the URL (it may hold a password).
 */
export function checkBrokerUrl(slice: BrokerSlice): void {
  const path = brokerUrlField(slice);
  let u: URL;
  try {
    u = new URL(brokerUrl(slice));
  } catch {
    throw new AccordError('config.invalid', 'the broker URL does not parse', { path });
  }
  if (u.protocol !== 'amqp:' && u.protocol !== 'amqps:') {
    throw new AccordError('config.invalid', 'the broker URL is not amqp:// or amqps://', { path });
  }
  if (u.hostname === '') throw new AccordError('config.invalid', 'the broker URL names no host', { path });
}

/**
 * Open a connection to the broker of `slice`. What will not pass by itself fails as configuration,
 * before or instead of a retry: a malformed URL (`config.invalid`), unusable TLS material
 * (`config.invalid` or `keys.invalid` at `amqp.tls…` / `peer.tls…`), a login or virtual host the broker
 * refuses (`config.broker_refused`), a certificate that does not verify (`config.tls_unverified`). Any
 * other failure is an outage, `infra.unavailable` (see {@link isBrokerOutage}). Messages name the URL
 * without its password.
 */
export async function connectBroker(slice: BrokerSlice, opts: BrokerConnectOptions): Promise<ChannelModel> {
  const url = brokerUrl(slice);
  checkBrokerUrl(slice);
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
    throw connectFailure(err, slice, `RabbitMQ at ${redactUrl(url)} for ${opts.name}`);
  }
}

/**
 * Whether a failure of {@link connectBroker} is an outage that may pass (`infra.unavailable`), as
 * opposed to configuration that a retry cannot fix. A gateway starts in an outage of its peer's broker
 * and connects when it returns; it refuses to start on the rest.
 */
export function isBrokerOutage(err: unknown): boolean {
  return err instanceof AccordError && err.code === 'infra.unavailable';
}

/**
 * Certificate failures of a TLS handshake, by Node's error code: the broker's certificate does not
 * verify (chain, validity, host name), or the broker refused this gateway's client certificate (a TLS
 * alert). None passes with time alone.
 */
const TLS_VERIFY_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_REVOKED',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);
const TLS_ALERT = /^ERR_SSL_(SSLV3|TLSV1|TLSV13)_ALERT_(BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_[A-Z_]+)$/;

/** RabbitMQ closes the handshake with 403 ACCESS_REFUSED (login) or 530 NOT_ALLOWED (virtual host). */
const LOGIN_REFUSED = /ACCESS[-_]REFUSED|NOT[-_]ALLOWED/;

/** A failed connection attempt as the AccordError that says whether retrying can help. */
function connectFailure(err: unknown, slice: BrokerSlice, what: string): AccordError {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : undefined;
  const message = typeof e.message === 'string' ? e.message : '';
  if (code !== undefined && (TLS_VERIFY_CODES.has(code) || TLS_ALERT.test(code))) {
    return new AccordError('config.tls_unverified', `cannot connect to ${what}: ${code}`, {
      path: 'url' in slice ? 'amqp.tls' : 'peer.tls',
      cause: err,
    });
  }
  if (LOGIN_REFUSED.test(message)) {
    const refused = /NOT[-_]ALLOWED/.test(message) ? 'the virtual host' : 'the login';
    return new AccordError('config.broker_refused', `${what} refused ${refused}`, {
      path: brokerUrlField(slice),
      cause: err,
    });
  }
  return new AccordError('infra.unavailable', `cannot connect to ${what}: ${describe(err)}`, { cause: err });
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
