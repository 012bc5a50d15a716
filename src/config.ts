/**
 * The gateway's configuration: one strict zod schema, parsed once by the composition root, deep-frozen,
 * and handed to each module as the slice it needs. Any string may be `${NAME}` or `${NAME:-default}` to
 * take a URL or secret from the environment. Relative file paths are relative to the config file.
 */
import { MAX_TRANSFER_MEMBERS } from './domain/transfer.js';
import { OPTIONAL_EVENT_TYPES } from './domain/events.js';
import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { AuthorityId, PartyId, Text } from './domain/common.js';
import { AssistanceType, CrimeCategory, InformationType, RefusalGround } from './domain/categories.js';
import { DirectoryEntry } from './domain/messages.js';
import { CONTENT_ENCRYPTION_ALGS, KEY_ENCRYPTION_ALGS, SIGNATURE_ALGS } from './crypto/profile.js';
import { AccordError } from './errors.js';
import { formatPath, parseJson } from './domain/parse.js';
import { productionIssues, transportIssues } from './config-production.js';

/** A config file larger than this is refused before it is parsed. */
export const MAX_CONFIG_BYTES = 256 * 1024;

/**
 * How much larger a sealed transfer is than its envelopes, at most (about 1.8 for JSON envelopes:
 * JSON-escaped in the statement, then base64 twice): a transfer holds envelopes of at most
 * `crypto.maxMessageBytes` divided by this, whatever `transfers.maxBytes` says (transfer-send.ts).
 */
export const TRANSFER_SEALED_GROWTH = 2;

/** `crypto.workers` when the config names none (see `npm run bench` and docs/cluster.md). */
const DEFAULT_CRYPTO_WORKERS = 0;

/** One competent authority and its contacts (Art. 13(1), 13(2)). */
export const AuthorityEntry = DirectoryEntry;
export type AuthorityEntry = z.infer<typeof AuthorityEntry>;

/**
 * Art. 9(4): a refusal rule applied to every inbound request, in order; the first that matches decides:
 * `refuse` refuses it and a signed refusal notice goes back at once (Art. 9(5)); `review` holds it for
 * a person's decision in `accord.review.<authority>`. A rule matches when each criterion it names
 * matches (any of the listed values).
 */
export const RefusalRule = z
  .strictObject({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes'),
    when: z
      .strictObject({
        crimeCategories: z.array(CrimeCategory).min(1).optional(),
        informationTypes: z.array(InformationType).min(1).optional(),
        assistanceTypes: z.array(AssistanceType).min(1).optional(),
        fromAuthorities: z.array(AuthorityId).min(1).optional(),
        toAuthorities: z.array(AuthorityId).min(1).optional(),
      })
      .refine((w) => Object.keys(w).length > 0, 'a rule names at least one criterion'),
    decision: z.enum(['refuse', 'review']).default('refuse'),
    /** Required to refuse: the Art. 9(4) grounds the requester is told. */
    grounds: z.array(RefusalGround).min(1).max(5).optional(),
    /** What the requester is told (`refuse`), or why the reviewer sees it (`review`). */
    explanation: Text(2000),
  })
  .refine((r) => r.decision !== 'refuse' || r.grounds !== undefined, {
    path: ['grounds'],
    message: 'a refusing rule names its Art. 9(4) grounds',
  });
export type RefusalRule = z.infer<typeof RefusalRule>;

/**
 * Art. 9(4): a plug-in refusal hook, an ES module run on every inbound request after the configured
 * rules (see src/policy/hooks.ts for its contract). A hook that throws, answers something invalid or
 * takes longer than `timeoutMs` sends the request to manual review, never to acceptance.
 */
export const RefusalHookEntry = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes'),
  /** Path of the module, relative to the config file's folder (or absolute). */
  module: z.string().min(1).max(1024),
  /** @defaultValue 2000 */
  timeoutMs: z.int().min(10).max(60_000).default(2000),
});
export type RefusalHookEntry = z.infer<typeof RefusalHookEntry>;

/** A RabbitMQ user name. */
const BrokerUser = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, ".", "_", "-"');

/**
 * TLS for an amqps:// broker connection: the CA of the broker's certificate, and this gateway's client
 * certificate and key (mutual TLS). The broker's identity is always verified.
 */
const TlsSection = z.strictObject({
  /** PEM file of the CA that signed the broker's certificate. */
  ca: z.string().min(1),
  /** PEM file of this gateway's client certificate. */
  cert: z.string().min(1).optional(),
  /** PEM file of the client certificate's private key (mode 600). */
  key: z.string().min(1).optional(),
  /** Environment variable holding the key's passphrase. */
  passphraseEnv: z
    .string()
    .regex(/^[A-Z_][A-Z0-9_]{0,127}$/)
    .optional(),
  /** The host name the broker's certificate must carry, when it is not the URL's host. */
  servername: z.string().min(1).max(253).optional(),
});

const Namespace = z.string().regex(/^[a-z0-9][a-z0-9-]{0,30}$/, 'lower-case letters, digits and dashes');
const AmqpUrl = z.string().regex(/^amqps?:\/\//, 'an amqp:// or amqps:// URL');

/**
 * One Sentinel, as `host:port`: a host name, an IPv4 address or an IPv6 address in brackets, and a port
 * from 1 to 65535 (the port is in the pattern so the published JSON Schema checks it too).
 */
const SentinelNode = z
  .string()
  .max(300)
  .regex(
    /^(?:\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*):(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$/,
    'host:port with a port from 1 to 65535 (an IPv6 address in brackets: [::1]:26379)',
  );

/** Where the gateway's Redis is: one endpoint, or the primary a set of Sentinels names. */
const RedisSection = z
  .strictObject({
    /**
     * `redis://[[user]:password@]host:port[/db]`, or `rediss://` for TLS. With `sentinel` set, the URL still
     * gives the user, password, db number and TLS of the data connection, but its host and port are not
     * used: the gateway connects to the primary the Sentinels name.
     */
    url: z.string().regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL'),
    /**
     * Connect through Redis Sentinel: ask the listed Sentinels for the primary of the group `name` and
     * follow it through a failover (docs/cluster.md). The connections to the Sentinels themselves are
     * plain TCP.
     */
    sentinel: z
      .strictObject({
        /** The master group name, as in the Sentinels' `sentinel monitor <name> …`. */
        name: z
          .string()
          .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'letters, digits, ".", "_", ":", "-" (at most 128)'),
        /** The Sentinels to ask, as `host:port`; the first that answers is used. */
        nodes: z.array(SentinelNode).min(1, 'list at least one Sentinel as host:port').max(9),
        /**
         * The Sentinels' own password (their `requirepass`), when they have one; not the data password,
         * which `url` carries. Write `${NAME}` to take it from the environment.
         */
        password: z.string().min(1).max(512).optional(),
      })
      .optional(),
  })
  .superRefine((r, ctx) => {
    // With Sentinel the gateway reads the URL's parts itself (not ioredis): check the ones it uses.
    if (r.sentinel === undefined) return;
    let path: string;
    try {
      path = new URL(r.url).pathname;
    } catch {
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'not a valid URL' });
      return;
    }
    if (!/^\/?([0-9]{1,5})?$/.test(path)) {
      ctx.addIssue({
        code: 'custom',
        path: ['url'],
        message: 'the path after host:port is a db number or empty',
      });
    }
  });

const SignatureAlg = z.enum(SIGNATURE_ALGS);
const KeyEncryptionAlg = z.enum(KEY_ENCRYPTION_ALGS);
const ContentEncryptionAlg = z.enum(CONTENT_ENCRYPTION_ALGS);

export const ConfigSchema = z
  .strictObject({
    /** This gateway's Contracting Party. */
    party: PartyId,
    /** Prefix of every queue name and Redis key, so several gateways can share one broker. */
    namespace: Namespace.optional(),
    amqp: z.strictObject({
      url: AmqpUrl,
      /** Unacknowledged deliveries per consumer. @defaultValue 64 */
      prefetch: z.int().min(1).max(1000).default(64),
      /**
       * Deliveries of one consumer worked on at once; the rest of the prefetch waits in arrival order,
       * except urgent ones (Art. 9(1)), which never wait. Fewer: urgent requests wait less behind bulk
       * traffic, and bulk throughput falls (docs/performance.md). @defaultValue 32
       */
      concurrency: z.int().min(1).max(1000).default(32),
      /** AMQP heartbeat in seconds. @defaultValue 10 */
      heartbeatS: z.int().min(1).max(600).default(10),
      /** A publish whose broker confirm has not arrived by then fails. @defaultValue 10000 */
      confirmTimeoutMs: z.int().min(100).max(600_000).default(10_000),
      /**
       * `quorum` replicates the gateway's queues over a RabbitMQ cluster (Raft); `classic` suits one
       * node and keeps the urgent lane's priorities (quorum queues have none before RabbitMQ 4).
       * @defaultValue classic
       */
      queueType: z.enum(['classic', 'quorum']).default('classic'),
      /** TLS for the broker connection; the url must then be amqps:// (amqplib picks TLS by the scheme). */
      tls: TlsSection.optional(),
    }),
    redis: RedisSection,
    keys: z
      .strictObject({
        /**
         * This gateway's private JWK Set (signing and decryption keys): a JSON JWK Set, or the same
         * encrypted with a passphrase (`accord keys encrypt`). Readable by its owner only (mode 600);
         * with `NODE_ENV=production` it must be the encrypted form.
         */
        privateJwks: z.string().min(1),
        /** Name of the environment variable that holds the passphrase of an encrypted `privateJwks`. */
        passphraseEnv: z
          .string()
          .regex(/^[A-Z_][A-Z0-9_]{0,127}$/, 'an environment variable name (A-Z, 0-9, _)')
          .optional(),
        /** File that holds the passphrase of an encrypted `privateJwks` (one line, mode 600). */
        passphraseFile: z.string().min(1).optional(),
        /** The key lifecycle state (lifecycle.ts). @defaultValue `key-state.json` beside `privateJwks` */
        stateFile: z.string().min(1).optional(),
        /** Warn (`keys.expiring`) this many days before a key expires. @defaultValue 30 */
        expiryWarningDays: z.int().min(1).max(365).default(30),
        /** How long a replaced key keeps verifying/decrypting after a rotation, in hours. @defaultValue 168 */
        overlapHours: z.int().min(1).max(8760).default(168),
        /**
         * Pin keys the peer announces in a signed `key-announcement` (signed with its key in force) and
         * apply its `key-revocation`s. Off: announcements are parked in accord.dlq and security staff
         * pin keys with `accord keys import-peer` only. @defaultValue true
         */
        acceptAnnouncements: z.boolean().default(true),
        /**
         * A signing key the peer announces in band is pinned `held`: it verifies nothing until security
         * staff approve it by its thumbprint, confirmed with the peer out of band (`accord keys approve
         * --thumbprint`). Off: it is trusted at once on the strength of the key that signed the
         * announcement. @defaultValue true
         */
        approveAnnouncedSigningKeys: z.boolean().default(true),
      })
      .refine((k) => k.passphraseEnv === undefined || k.passphraseFile === undefined, {
        message: 'set passphraseEnv or passphraseFile, not both',
        path: ['passphraseFile'],
      }),
    peer: z.strictObject({
      party: PartyId,
      /**
       * The peer gateway's broker, where its `accord.ingress` queue lives; amqps:// with `tls`, and
       * always with NODE_ENV=production.
       */
      amqpUrl: AmqpUrl,
      namespace: Namespace.optional(),
      /**
       * TLS for the peer link, mutually authenticated with client certificates; `amqpUrl` must then be
       * amqps:// (amqplib picks TLS by the scheme).
       */
      tls: TlsSection.optional(),
      /** The peer's public JWK Set, pinned: the only keys its messages are verified with. */
      publicJwks: z.string().min(1),
      /** The peer's competent authorities (Art. 13), as notified by the peer. */
      authorities: z.array(AuthorityEntry).min(1).max(500),
    }),
    /** This party's competent authorities (Art. 13): only these may send or receive. */
    authorities: z.array(AuthorityEntry).min(1).max(500),
    crypto: z
      .strictObject({
        signatureAlgs: z.array(SignatureAlg).min(1).default(['ES256']),
        keyEncryptionAlgs: z.array(KeyEncryptionAlg).min(1).default(['ECDH-ES+A256KW']),
        contentEncryptionAlgs: z.array(ContentEncryptionAlg).min(1).default(['A256GCM']),
        /** A sealed message larger than this is refused before any parsing. @defaultValue 4 MiB */
        maxMessageBytes: z
          .int()
          .min(1024)
          .max(64 * 1024 * 1024)
          .default(4 * 1024 * 1024),
        /** Allowed clock difference between the gateways, in seconds. @defaultValue 300 */
        clockLeewayS: z.int().min(0).max(3600).default(300),
        /**
         * Worker threads that seal and open messages off the event loop, urgent ones first; 0 seals and
         * opens on the event loop. @defaultValue 0
         */
        workers: z.int().min(0).max(64).default(DEFAULT_CRYPTO_WORKERS),
        /**
         * A seal or open running longer than this, in milliseconds, has its worker replaced and the
         * message retried. @defaultValue 10000
         */
        workerTimeoutMs: z.int().min(100).max(600_000).default(10_000),
        /**
         * Seals and opens one worker runs at once. Few keep the rest waiting in the pool, where urgent ones
         * overtake; many keep bulk throughput near inline. @defaultValue 32
         */
        jobsPerWorker: z.int().min(1).max(256).default(32),
      })
      .default({
        signatureAlgs: ['ES256'],
        keyEncryptionAlgs: ['ECDH-ES+A256KW'],
        contentEncryptionAlgs: ['A256GCM'],
        maxMessageBytes: 4 * 1024 * 1024,
        clockLeewayS: 300,
        workers: DEFAULT_CRYPTO_WORKERS,
        workerTimeoutMs: 10_000,
        jobsPerWorker: 32,
      }),
    delivery: z
      .strictObject({
        /** How long the sender waits for the peer's signed receipt before resending. @defaultValue 30000 */
        receiptTimeoutMs: z
          .int()
          .min(100)
          .max(24 * 3600_000)
          .default(30_000),
        /** Resends of the same sealed message, with exponential back-off, before `failed`. @defaultValue 5 */
        maxResends: z.int().min(0).max(50).default(5),
        /** A message whose processing fails the same way this often is parked in accord.dlq. @defaultValue 5 */
        poisonAttempts: z.int().min(1).max(100).default(5),
      })
      .default({ receiptTimeoutMs: 30_000, maxResends: 5, poisonAttempts: 5 }),
    policy: z
      .strictObject({
        /** Art. 9(4) refusal rules for inbound requests, applied in order. */
        refusalRules: z.array(RefusalRule).max(200).default([]),
        /** Art. 9(4) plug-in hooks, run in order after the rules. */
        hooks: z.array(RefusalHookEntry).max(20).default([]),
        /**
         * Art. 9(2) routing table: what each listed authority is competent for. A request addressed to
         * an authority whose entry it does not match goes to the first authority whose entry it does,
         * and the requester is told (referral). An authority without an entry is competent for all.
         */
        competence: z
          .array(
            z.strictObject({
              authority: AuthorityId,
              crimeCategories: z.array(CrimeCategory).min(1).optional(),
              informationTypes: z.array(InformationType).min(1).optional(),
              assistanceTypes: z.array(AssistanceType).min(1).optional(),
            }),
          )
          .max(500)
          .default([]),
        /**
         * Secret for the keyed hashes (HMAC-SHA256) of identifiers received from the peer, which the
         * export gate matches (Art. 11(2)); at least 32 characters, from the environment: the shipped
         * configs read `${ACCORD_IDENTIFIER_KEY}`, with no default. Generate it with `openssl rand
         * -base64 32`; with NODE_ENV=production a test-only key is refused. A new key forgets the
         * identifiers remembered under the old one (docs/security.md).
         */
        identifierKey: z.string().min(32).optional(),
        /** Art. 9(1): hours within which the written request must confirm an oral one. @defaultValue 24 */
        oralConfirmationHours: z.number().positive().max(720).default(24),
        /** How long identifiers received from the peer are remembered for the export gate, in days. @defaultValue 3650 */
        identifierRetentionDays: z.int().min(1).max(36_500).default(3650),
      })
      .default({
        refusalRules: [],
        hooks: [],
        competence: [],
        oralConfirmationHours: 24,
        identifierRetentionDays: 3650,
      }),
    /**
     * Who may reach the broker as whom (docs/security.md). With `submitters` listed, every submission
     * must carry the AMQP `user_id` of the broker user of the authority it claims to come from (the
     * broker checks user_id against the connection's user); without, user_id is not checked
     * (development only).
     */
    access: z
      .strictObject({
        /** The broker user of each authority's case system. */
        submitters: z
          .array(z.strictObject({ authority: AuthorityId, brokerUser: BrokerUser }))
          .max(500)
          .default([]),
        /** The gateway's own broker user, for `accord broker setup`. @defaultValue accord-gateway */
        gatewayUser: BrokerUser.default('accord-gateway'),
        /** The broker user the peer gateway publishes to this gateway's ingress with. @defaultValue accord-peer */
        peerUser: BrokerUser.default('accord-peer'),
      })
      .default({ submitters: [], gatewayUser: 'accord-gateway', peerUser: 'accord-peer' }),
    /**
     * The admin HTTP server (/healthz, /readyz, /metrics, /api/alerts, the dashboard); off when absent.
     * Every path but /healthz and /readyz needs the bearer token, from `tokenEnv` or `tokenFile` (at
     * least 32 characters).
     */
    admin: z
      .strictObject({
        /** @defaultValue 127.0.0.1 (loopback: reach it through a reverse proxy or a tunnel) */
        host: z.string().min(1).max(255).default('127.0.0.1'),
        /** 0 picks a free port. @defaultValue 9464 */
        port: z.int().min(0).max(65_535).default(9464),
        /** Environment variable holding the token. */
        tokenEnv: z
          .string()
          .regex(/^[A-Z_][A-Z0-9_]{0,127}$/)
          .optional(),
        /** File holding the token (one line, mode 600). */
        tokenFile: z.string().min(1).optional(),
        /** Serve the console and the endpoints over HTTPS with this PEM certificate and key (key mode 600). */
        tls: z.strictObject({ certFile: z.string().min(1), keyFile: z.string().min(1) }).optional(),
        /**
         * Mark the console's session cookie `Secure` although this server speaks HTTP, because a TLS proxy
         * stands in front of it (with `tls` it always is). @defaultValue false
         */
        secureCookies: z.boolean().default(false),
        /** A console session ends after this many minutes without a request. @defaultValue 30 */
        sessionIdleMinutes: z
          .int()
          .min(1)
          .max(24 * 60)
          .default(30),
        /** … and this many hours after login, used or not. @defaultValue 8 */
        sessionMaxHours: z.int().min(1).max(72).default(8),
      })
      .refine((a) => (a.tokenEnv === undefined) !== (a.tokenFile === undefined), {
        message: 'set tokenEnv or tokenFile (exactly one): the admin server never runs without a token',
        path: ['tokenEnv'],
      })
      .optional(),
    /** Alerts for the administrator on call: always to the log; also to a webhook when set (signed, retried with back-off). */
    /**
     * Wire version 2 on the peer link (docs/protocol.md "Transfers"): several messages sealed into one
     * transfer under one signature, and their receipts returned as one transfer.
     */
    /**
     * Per authority, the optional event types it receives (docs/integration.md "Events"); an authority
     * not named receives them all. An event that answers a submission or reports a failure always goes.
     */
    eventSubscriptions: z.record(AuthorityId, z.array(z.enum(OPTIONAL_EVENT_TYPES)).max(16)).default({}),
    transfers: z
      .strictObject({
        /**
         * Read transfers: bind the transfer routing key to the ingress, which is how the peer learns that
         * this gateway reads them. @defaultValue true
         */
        read: z.boolean().default(true),
        /** Send transfers to a peer that reads them (a probe finds out, see docs/protocol.md). @defaultValue true */
        send: z.boolean().default(true),
        /** Messages in one transfer at most. @defaultValue 64 */
        maxMessages: z.int().min(1).max(MAX_TRANSFER_MEMBERS).default(64),
        /**
         * Envelope bytes in one transfer at most; a larger message goes alone. Never more than half of
         * `crypto.maxMessageBytes` is used (a transfer seals to about twice its envelopes). @defaultValue 1 MiB
         */
        maxBytes: z
          .int()
          .min(1024)
          .max(64 * 1024 * 1024)
          .default(1024 * 1024),
        /**
         * How long the first message of a transfer waits for others when no transfer is on its way, in
         * milliseconds; 0 sends at once, and a transfer fills while the one before it is sent. @defaultValue 0
         */
        maxWaitMs: z.int().min(0).max(100).default(0),
        /** Transfers being sealed and sent at once. @defaultValue 2 */
        inFlight: z.int().min(1).max(16).default(2),
      })
      .default({ read: true, send: true, maxMessages: 64, maxBytes: 1024 * 1024, maxWaitMs: 0, inFlight: 2 }),
    alerts: z
      .strictObject({
        /** An http(s) URL that receives each alert as a JSON POST. */
        webhookUrl: z
          .string()
          .regex(/^https?:\/\//, 'an http:// or https:// URL')
          .max(2048)
          .optional(),
        /**
         * Environment variable holding the webhook's signing secret (at least 32 characters): each POST
         * carries `x-accord-signature: t=<unix seconds>,v1=<HMAC-SHA256 of "<t>.<body>", hex>`.
         */
        webhookSecretEnv: z
          .string()
          .regex(/^[A-Z_][A-Z0-9_]{0,127}$/)
          .optional(),
        /** File holding the webhook's signing secret (one line, mode 600), instead of `webhookSecretEnv`. */
        webhookSecretFile: z.string().min(1).optional(),
        /** Alert when the peer link has been down this long, in seconds. @defaultValue 60 */
        peerDownAfterS: z.int().min(1).max(86_400).default(60),
        /** Seconds between two heartbeats this gateway sends the peer gateway (while the peer link is up). @defaultValue 30 */
        heartbeatIntervalS: z.int().min(1).max(3600).default(30),
        /**
         * Alert (`alert.peer_gateway_silent`) when nothing came from the peer gateway — no heartbeat, no
         * message — for this many seconds while its broker is reachable. @defaultValue 90
         */
        peerSilentAfterS: z.int().min(2).max(86_400).default(90),
        /** Alert (`alert.dlq_growing`) while accord.dlq holds more than this many messages. @defaultValue 0 */
        dlqDepthAbove: z.int().min(0).max(1_000_000).default(0),
      })
      .refine(
        (a) =>
          a.webhookUrl === undefined ||
          (a.webhookSecretEnv === undefined) !== (a.webhookSecretFile === undefined),
        {
          message:
            'with a webhookUrl, set webhookSecretEnv or webhookSecretFile (exactly one): every POST is signed',
          path: ['webhookSecretEnv'],
        },
      )
      .refine((a) => a.peerSilentAfterS > a.heartbeatIntervalS, {
        message: 'must be longer than alerts.heartbeatIntervalS (three intervals is a good choice)',
        path: ['peerSilentAfterS'],
      })
      .default({ peerDownAfterS: 60, heartbeatIntervalS: 30, peerSilentAfterS: 90, dlqDepthAbove: 0 }),
    treaty: z
      .strictObject({
        /** Art. 17: the authorities that may notify a suspension or its revocation. */
        notifyingAuthorities: z.array(AuthorityId).max(10).default([]),
      })
      .default({ notifyingAuthorities: [] }),
    /** Art. 11(2): third states and international organisations information may be exported to, with consent. */
    exportDestinations: z
      .array(
        z.strictObject({
          id: z.string().regex(/^[a-z0-9][a-z0-9-]{1,62}$/, 'lower-case letters, digits and dashes'),
          name: Text(200),
          kind: z.enum(['third-state', 'international-organisation']),
        }),
      )
      .max(100)
      .default([]),
    /** Art. 10(6): the records of provision, receipt, refusal, consent, destruction and the rest. */
    records: z
      .strictObject({
        /**
         * The append-only, hash-chained audit log of this gateway (one writer per file). Relative to the
         * config file's folder; `var/audit/<namespace or party>.jsonl` beside it when absent.
         */
        auditFile: z.string().min(1).max(1024).optional(),
        /** A signed checkpoint after this many records. @defaultValue 1000 */
        checkpointEvery: z.int().min(1).max(1_000_000).default(1000),
        /** And at least this often while records are written, in seconds. @defaultValue 300 */
        checkpointIntervalS: z.int().min(1).max(86_400).default(300),
        /**
         * How long the message log (`accord messages`, `GET /api/messages`) keeps a message's row, in
         * days. Metadata only; the audit log keeps the records regardless. @defaultValue 90
         */
        messageLogDays: z.int().min(1).max(3650).default(90),
      })
      .default({ checkpointEvery: 1000, checkpointIntervalS: 300, messageLogDays: 90 }),
    /** Art. 10(3)–10(5), 18: deadlines for personal data and the confirmations they need. */
    dataProtection: z
      .strictObject({
        destruction: z
          .strictObject({
            /** Art. 10(5): the destruction deadline when a submission sets none, in days. @defaultValue 365 */
            defaultDays: z.int().min(1).max(36_500).default(365),
            /**
             * Shorter (or longer) defaults for an Art. 3 information type or an Art. 10(2) sensitive
             * category, in days; the shortest that applies to a message wins over `defaultDays`.
             */
            byCategory: z.record(z.string().max(64), z.int().min(1).max(36_500)).default({}),
            /** Hours an authority has to confirm a destroy order before the administrators are alerted. @defaultValue 72 */
            confirmGraceHours: z.number().positive().max(8760).default(72),
            /** Tell the provider (signed confirmation notice) when data are destroyed at the deadline or earlier. @defaultValue false */
            notifyProvider: z.boolean().default(false),
          })
          .default({ defaultDays: 365, byCategory: {}, confirmGraceHours: 72, notifyProvider: false }),
        /** Art. 10(4): hours the recipient has to confirm a correction or an erasure. @defaultValue 72 */
        confirmCorrectionHours: z.number().positive().max(8760).default(72),
        /** Art. 10(3): days to answer a usage-report-request that names no date. @defaultValue 30 */
        usageReportDays: z.int().min(1).max(366).default(30),
        /**
         * Art. 10(4): a correction or erasure that arrives before its original is taken in and retried
         * this often, in seconds, until the original has arrived. @defaultValue 30
         */
        holdRetryS: z.int().min(1).max(3600).default(30),
        /** …and parked in accord.dlq when the original has not arrived after this many hours. @defaultValue 72 */
        holdMaxHours: z.number().positive().max(8760).default(72),
        /**
         * How often due deadlines are looked for, in milliseconds. BullMQ fires delayed jobs on time by
         * itself; the sweep also catches a clock that jumped (and lets tests drive time). @defaultValue 5000
         */
        sweepIntervalMs: z.int().min(50).max(3_600_000).default(5000),
      })
      .default({
        destruction: { defaultDays: 365, byCategory: {}, confirmGraceHours: 72, notifyProvider: false },
        confirmCorrectionHours: 72,
        usageReportDays: 30,
        holdRetryS: 30,
        holdMaxHours: 72,
        sweepIntervalMs: 5000,
      }),
    messages: z
      .strictObject({
        /** Validity of a message when the submission sets none, in seconds. @defaultValue 7 days */
        defaultTtlS: z
          .int()
          .min(60)
          .default(7 * 24 * 3600),
        /** Languages allowed besides English (Art. 9(6): English unless agreed otherwise). */
        languages: z
          .array(z.string().regex(/^[a-z]{2}$/))
          .min(1)
          .default(['en']),
        /** A submission larger than this is refused before it is parsed. @defaultValue 1 MiB */
        maxSubmissionBytes: z
          .int()
          .min(1024)
          .max(32 * 1024 * 1024)
          .default(1024 * 1024),
        /**
         * The longest validity a message from the peer is accepted with, in days from its creation: a
         * later `expiresAt` counts as this. Bounds how long a captured message could be replayed and
         * how long its de-duplication record must live. @defaultValue 30
         */
        maxValidityDays: z.int().min(1).max(366).default(30),
      })
      .default({
        defaultTtlS: 7 * 24 * 3600,
        languages: ['en'],
        maxSubmissionBytes: 1024 * 1024,
        maxValidityDays: 30,
      }),
  })
  .superRefine((c, ctx) => {
    if (c.peer.party === c.party) {
      ctx.addIssue({ code: 'custom', path: ['peer', 'party'], message: 'the peer must be the other party' });
    }
    const dup = (list: AuthorityEntry[], path: string[]) => {
      const seen = new Set<string>();
      list.forEach((a, i) => {
        if (seen.has(a.id))
          ctx.addIssue({ code: 'custom', path: [...path, i, 'id'], message: 'duplicate id' });
        seen.add(a.id);
      });
    };
    dup(c.authorities, ['authorities']);
    const own = new Set(c.authorities.map((a) => a.id));
    const users = new Set<string>([c.access.gatewayUser, c.access.peerUser]);
    c.access.submitters.forEach((s, i) => {
      if (!own.has(s.authority)) {
        ctx.addIssue({
          code: 'custom',
          path: ['access', 'submitters', i, 'authority'],
          message: 'not a listed authority',
        });
      }
      if (users.has(s.brokerUser)) {
        ctx.addIssue({
          code: 'custom',
          path: ['access', 'submitters', i, 'brokerUser'],
          message: 'a broker user stands for one authority only',
        });
      }
      users.add(s.brokerUser);
    });
    dup(c.peer.authorities, ['peer', 'authorities']);
    if (c.namespace !== undefined && c.namespace === c.peer.namespace && c.amqp.url === c.peer.amqpUrl) {
      ctx.addIssue({
        code: 'custom',
        path: ['peer', 'namespace'],
        message: 'the peer shares this broker and namespace; its ingress would be this gateway’s own',
      });
    }
  });

/** The checked, frozen configuration. */
export type Config = Readonly<z.output<typeof ConfigSchema>>;

type Env = Readonly<Record<string, string | undefined>>;

/** Replace `${NAME}` / `${NAME:-default}` strings from the environment; unknown names are issues. */
function substituteEnv(value: unknown, env: Env, path: PropertyKey[], issues: string[]): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Z_][A-Z0-9_]*)(?::-([^}]*))?\}/g, (_m, name: string, dflt?: string) => {
      const v = env[name] ?? dflt;
      if (v === undefined) {
        issues.push(`${formatPath(path) || '(root)'}: environment variable ${name} is not set`);
        return '';
      }
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, env, [...path, i], issues));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, substituteEnv(v, env, [...path, k], issues)]),
    );
  }
  return value;
}

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/** Result of checking a config: the config when valid, otherwise every problem as `path: message`. */
export type ConfigCheck = { ok: true; config: Config } | { ok: false; issues: string[] };

/**
 * Check raw config data; relative key paths are resolved against `baseDir`. Besides the schema, the
 * checks of src/config-production.ts: TLS options only over `amqps://`, and with `NODE_ENV=production`
 * (read from `env`) a TLS peer link and an identifier key that is not test-only material.
 */
export function checkConfigData(raw: unknown, baseDir: string, env: Env = process.env): ConfigCheck {
  const issues: string[] = [];
  const substituted = substituteEnv(raw, env, [], issues);
  const result = ConfigSchema.safeParse(substituted);
  if (!result.success) {
    // A field whose variable is missing is reported once, as the missing variable.
    const envPaths = new Set(issues.map((i) => i.slice(0, i.indexOf(': '))));
    for (const i of result.error.issues) {
      const path = formatPath(i.path) || '(root)';
      if (!envPaths.has(path)) issues.push(`${path}: ${i.message}`);
    }
  }
  if (issues.length > 0 || !result.success) return { ok: false, issues };
  const c = result.data;
  // Beyond the schema: TLS options only over amqps://; with NODE_ENV=production, no test-only material.
  const beyond = [...transportIssues(c), ...productionIssues(c, env)];
  if (beyond.length > 0) return { ok: false, issues: beyond };
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  c.keys.privateJwks = abs(c.keys.privateJwks);
  if (c.keys.passphraseFile !== undefined) c.keys.passphraseFile = abs(c.keys.passphraseFile);
  if (c.keys.stateFile !== undefined) c.keys.stateFile = abs(c.keys.stateFile);
  c.peer.publicJwks = abs(c.peer.publicJwks);
  for (const h of c.policy.hooks) h.module = abs(h.module);
  if (c.admin?.tokenFile !== undefined) c.admin.tokenFile = abs(c.admin.tokenFile);
  if (c.admin?.tls !== undefined) {
    c.admin.tls.certFile = abs(c.admin.tls.certFile);
    c.admin.tls.keyFile = abs(c.admin.tls.keyFile);
  }
  c.records.auditFile = abs(
    c.records.auditFile ?? join('var', 'audit', `${c.namespace ?? c.party.toLowerCase()}.jsonl`),
  );
  for (const t of [c.amqp.tls, c.peer.tls]) {
    if (!t) continue;
    t.ca = abs(t.ca);
    if (t.cert !== undefined) t.cert = abs(t.cert);
    if (t.key !== undefined) t.key = abs(t.key);
  }
  return { ok: true, config: deepFreeze(c) };
}

/** Check a config file: size-limited, JSON, schema, environment substitution. */
export function checkConfigFile(file: string, env: Env = process.env): ConfigCheck {
  let text: Buffer;
  try {
    const size = statSync(file).size;
    if (size > MAX_CONFIG_BYTES)
      return { ok: false, issues: [`(file): ${size} bytes, the limit is ${MAX_CONFIG_BYTES}`] };
    text = readFileSync(file);
  } catch (err) {
    return {
      ok: false,
      issues: [`(file): cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`],
    };
  }
  let raw: unknown;
  try {
    raw = parseJson(text, MAX_CONFIG_BYTES);
  } catch (err) {
    return { ok: false, issues: [`(file): ${(err as Error).message}`] };
  }
  return checkConfigData(raw, dirname(resolve(file)), env);
}

/** Load a config file or throw `config.invalid` listing every problem. */
export function loadConfig(file: string, env: Env = process.env): Config {
  const check = checkConfigFile(file, env);
  if (!check.ok) throw new AccordError('config.invalid', `${file}:\n  ${check.issues.join('\n  ')}`);
  return check.config;
}

/** Queue and Redis names of one gateway, with the optional namespace prefix (DESIGN §3). */
export function names(namespace: string | undefined) {
  const p = namespace ? `${namespace}.` : '';
  return {
    outbox: `${p}accord.outbox`,
    ingress: `${p}accord.ingress`,
    dlq: `${p}accord.dlq`,
    /**
     * Internal: one line per committed delivery, to resolve pending claims after a crash. Declared with
     * `x-single-active-consumer`, so one replica applies the lines, in order: what makes "read to the
     * end" a cluster-wide barrier (docs/reliability.md). `.v2` because the argument cannot be added to
     * the queue versions before it declared (RabbitMQ refuses a redeclaration with other arguments).
     */
    deliveredLog: `${p}accord.delivered-log.v2`,
    /**
     * Internal, retired: the delivered-log of versions before the barrier (no single active consumer).
     * Never declared any more; a gateway drains what is left in it while it exists, and the operator
     * deletes it once no replica of an older version runs (docs/operator.md).
     */
    legacyDeliveredLog: `${p}accord.delivered-log`,
    inbox: (authority: string) => `${p}accord.inbox.${authority}`,
    events: (authority: string) => `${p}accord.events.${authority}`,
    /**
     * Case systems publish submissions to this direct exchange (routing key: the outbox's name); it is
     * bound to the outbox, so an authority's broker user needs write permission on it only — not on the
     * default exchange, which routes to every queue (docs/security.md).
     */
    submitExchange: `${p}accord.submit`,
    /** The peer gateway publishes to this exchange (routing key: the ingress's name), bound to the ingress. */
    peerExchange: `${p}accord.peer`,
    /**
     * The routing key of heartbeats on the peer exchange, bound to the ingress too. An older gateway
     * has no such binding: its broker returns the heartbeat unroutable, and its gateway never sees it.
     */
    heartbeatRoute: `${p}accord.ingress.heartbeat`,
    /**
     * The routing key of transfers (wire version 2) on the peer exchange, bound to the ingress by a
     * gateway that reads them: an older one has no such binding, and its broker returns a transfer
     * unroutable, which is how a sender learns to send it single messages (docs/protocol.md).
     */
    transferRoute: `${p}accord.ingress.v2`,
    /** Art. 9(4): inbound requests held for a person's decision. */
    review: (authority: string) => `${p}accord.review.${authority}`,
    /**
     * Internal (Art. 10(4)): corrections and erasures waiting for their original; each returns to the
     * ingress after `dataProtection.holdRetryS` (queue TTL, dead-lettered through the peer exchange).
     */
    held: `${p}accord.held`,
    /** Art. 11(2): the only way out to a third state or international organisation. */
    exportQueue: (destination: string) => `${p}accord.export.${destination}`,
    redisPrefix: `accord:${namespace ?? 'default'}:`,
  };
}
export type Names = ReturnType<typeof names>;
