/**
 * `accord broker setup --config FILE`: the RabbitMQ definitions (users, permissions, queues,
 * exchanges, bindings) that give each party member the least it needs on this gateway's broker:
 *
 * - each authority's case system (`access.submitters`): write on the submit exchange only (bound to
 *   the outbox) and read on its own inbox, events and review queues; nothing else, no configure;
 * - the gateway (`access.gatewayUser`): its own queues and exchanges, and the default exchange;
 * - the peer gateway (`access.peerUser`): write on the peer exchange only (bound to the ingress).
 *
 * Passwords are generated; the definitions carry only their salted SHA-256 hashes (RabbitMQ's
 * `rabbit_password_hashing_sha256`), the passwords go to a separate owner-only file. Apply with
 * `rabbitmqctl import_definitions FILE` or the management API (`POST /api/definitions`).
 *
 * What a peer or a case system can make the broker and the gateway hold is bounded too: a policy caps
 * the bytes waiting in the ingress and the outbox (`max-length-bytes`, publishes over it refused with
 * `reject-publish`, so nothing queued is dropped), and the command prints the node-wide
 * `max_message_size` to set (a node setting, not part of definitions), so that no single message
 * larger than the gateway takes ever reaches its memory.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { loadConfig, names, type Config } from '../config.js';
import { AccordError } from '../errors.js';
import { ownExchanges, ownQueues, queueArgsFor } from '../topology.js';
import { EXIT_OK, reportError } from './exit.js';

/** RabbitMQ's `rabbit_password_hashing_sha256`: base64(salt ‖ SHA-256(salt ‖ password)), 4-byte salt. */
export function rabbitPasswordHash(password: string, salt: Buffer = randomBytes(4)): string {
  const digest = createHash('sha256')
    .update(Buffer.concat([salt, Buffer.from(password, 'utf8')]))
    .digest();
  return Buffer.concat([salt, digest]).toString('base64');
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const only = (...names: string[]) => `^(${names.map(esc).join('|')})$`;

/** The vhost of an amqp:// URL (`/` when it names none). */
export function vhostOf(url: string): string {
  const path = new URL(url).pathname;
  return path === '' || path === '/' ? '/' : decodeURIComponent(path.slice(1));
}

/** Bytes that may wait in the ingress, and in the outbox, by default: 1 GiB each. */
export const DEFAULT_MAX_QUEUE_BYTES = 1024 ** 3;

/** Limits of {@link brokerDefinitions}. */
export interface BrokerLimits {
  /** Bytes that may wait in the ingress and in the outbox, each. @defaultValue {@link DEFAULT_MAX_QUEUE_BYTES} */
  maxQueueBytes?: number;
}

/**
 * RabbitMQ's `max_message_size` for this gateway's broker: the largest message the gateway takes
 * (`crypto.maxMessageBytes` from the peer, `messages.maxSubmissionBytes` from a case system), twice,
 * and a MiB — room for what the gateway publishes around one (inbox deliveries, dead letters).
 */
export function maxMessageSizeFor(config: Config): number {
  return 2 * Math.max(config.crypto.maxMessageBytes, config.messages.maxSubmissionBytes) + 1024 * 1024;
}

/**
 * The policy that caps the bytes waiting in the ingress and the outbox: publishes over the cap are
 * refused (`reject-publish`; the publisher's confirm is a nack, and it retries), never dropped. A
 * queue takes one policy, the highest priority's: merge it with any other policy of these queues.
 */
export function intakeLimitPolicy(config: Config, vhost: string, maxQueueBytes: number) {
  const n = names(config.namespace);
  return {
    vhost,
    name: `${n.outbox.slice(0, n.outbox.length - 'outbox'.length)}intake-limit`,
    pattern: only(n.ingress, n.outbox),
    'apply-to': 'queues',
    definition: { 'max-length-bytes': maxQueueBytes, overflow: 'reject-publish' },
    priority: 10,
  };
}

export interface BrokerSetup {
  definitions: Record<string, unknown>;
  /** Generated passwords, by user. */
  passwords: Map<string, string>;
}

/** The definitions for one gateway's broker. */
export function brokerDefinitions(
  config: Config,
  vhost: string = vhostOf(config.amqp.url),
  limits: BrokerLimits = {},
): BrokerSetup {
  const maxQueueBytes = limits.maxQueueBytes ?? DEFAULT_MAX_QUEUE_BYTES;
  const n = names(config.namespace);
  const prefix = esc(n.outbox.slice(0, n.outbox.length - 'accord.outbox'.length));
  const passwords = new Map<string, string>();
  const user = (name: string) => {
    const password = randomBytes(24).toString('base64url');
    passwords.set(name, password);
    return {
      name,
      password_hash: rabbitPasswordHash(password),
      hashing_algorithm: 'rabbit_password_hashing_sha256',
      tags: '',
    };
  };
  const { access } = config;
  const permissions = [
    {
      user: access.gatewayUser,
      vhost,
      configure: `^${prefix}accord\\.`,
      write: `^(${prefix}accord\\..*|amq\\.default)$`,
      read: `^${prefix}accord\\.`,
    },
    { user: access.peerUser, vhost, configure: '^$', write: only(n.peerExchange), read: '^$' },
    ...access.submitters.map((s) => ({
      user: s.brokerUser,
      vhost,
      configure: '^$',
      write: only(n.submitExchange),
      read: only(n.inbox(s.authority), n.events(s.authority), n.review(s.authority)),
    })),
  ];
  const definitions = {
    users: [
      user(access.gatewayUser),
      user(access.peerUser),
      ...access.submitters.map((s) => user(s.brokerUser)),
    ],
    vhosts: [{ name: vhost }],
    permissions,
    queues: ownQueues(config).map((name) => ({
      name,
      vhost,
      durable: true,
      auto_delete: false,
      arguments: queueArgsFor(config, name),
    })),
    exchanges: ownExchanges(config).map((name) => ({
      name,
      vhost,
      type: 'direct',
      durable: true,
      auto_delete: false,
      internal: false,
      arguments: {},
    })),
    policies: [intakeLimitPolicy(config, vhost, maxQueueBytes)],
    bindings: [
      [n.submitExchange, n.outbox, n.outbox],
      [n.peerExchange, n.ingress, n.ingress],
      // The peer gateway's heartbeats (src/kinds/heartbeat.ts).
      [n.peerExchange, n.ingress, n.heartbeatRoute],
      // Wire version 2: the binding tells the peer that this gateway reads transfers.
      ...(config.transfers.read ? [[n.peerExchange, n.ingress, n.transferRoute]] : []),
    ].map(([source, destination, routingKey]) => ({
      source,
      vhost,
      destination,
      destination_type: 'queue',
      routing_key: routingKey,
      arguments: {},
    })),
  };
  return { definitions, passwords };
}

/** `--max-queue-bytes`: a whole number of bytes, room for at least `smallest` (two of the largest messages). */
function queueBytesOption(value: string | undefined, smallest: number): number {
  if (value === undefined) return Math.max(DEFAULT_MAX_QUEUE_BYTES, smallest);
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < smallest) {
    throw new AccordError(
      'config.invalid',
      `--max-queue-bytes: a whole number of bytes, at least ${smallest}`,
      {
        path: '--max-queue-bytes',
      },
    );
  }
  return n;
}

export function registerBroker(program: Command): void {
  const broker = program.command('broker').description('RabbitMQ users and permissions (least privilege)');
  broker
    .command('setup')
    .description('write the RabbitMQ definitions for this gateway’s broker, and the generated passwords')
    .requiredOption('--config <file>', 'the gateway config')
    .requiredOption('--out <file>', 'where to write the definitions (JSON, no passwords)')
    .requiredOption(
      '--secrets <file>',
      'where to write the generated passwords (mode 600, "user password" per line)',
    )
    .option('--vhost <name>', 'the vhost (default: the one in amqp.url)')
    .option(
      '--max-queue-bytes <n>',
      `bytes that may wait in the ingress and in the outbox, each (default ${DEFAULT_MAX_QUEUE_BYTES})`,
    )
    .action(
      (opts: { config: string; out: string; secrets: string; vhost?: string; maxQueueBytes?: string }) => {
        try {
          const config = loadConfig(opts.config);
          if (config.access.submitters.length === 0) {
            throw new AccordError(
              'config.invalid',
              'access.submitters is empty: list the broker user of each authority first',
              { path: 'access.submitters' },
            );
          }
          const maxMessageSize = maxMessageSizeFor(config);
          const maxQueueBytes = queueBytesOption(opts.maxQueueBytes, 2 * maxMessageSize);
          const vhost = opts.vhost ?? vhostOf(config.amqp.url);
          const { definitions, passwords } = brokerDefinitions(config, vhost, { maxQueueBytes });
          writeFileSync(opts.out, `${JSON.stringify(definitions, null, 2)}\n`, { mode: 0o644 });
          writeFileSync(opts.secrets, [...passwords].map(([u, p]) => `${u} ${p}`).join('\n') + '\n', {
            mode: 0o600,
            flag: 'w',
          });
          // An existing file keeps its mode on write: make it owner-only in any case.
          chmodSync(opts.secrets, 0o600);
          process.stdout.write(
            `wrote ${opts.out} (${passwords.size} users, ${(definitions.queues as unknown[]).length} queues) and ${opts.secrets} (mode 600).\n` +
              `Apply: rabbitmqctl import_definitions ${opts.out}; hand each password to its user over a secure channel.\n` +
              `Set the node's largest message in rabbitmq.conf: max_message_size = ${maxMessageSize}\n` +
              `  (at once, until the next restart: rabbitmqctl eval 'application:set_env(rabbit, max_message_size, ${maxMessageSize}).')\n`,
          );
          process.exitCode = EXIT_OK;
        } catch (err) {
          process.exitCode = reportError(err);
        }
      },
    );
}
