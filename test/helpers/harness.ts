/**
 * The test harness: two real gateways (CZ and KZ) on the real local RabbitMQ and Redis, each test run
 * in its own namespaces so runs never see each other's queues or keys, and everything removed after.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { execFile, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import amqp, { type GetMessage } from 'amqplib';
import { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import { names, type Config } from '../../src/config.js';
import { PARTY_TAGS, TEST_ONLY_IDENTIFIER_KEY, checkedPair, configPair } from '../../src/demo/config-pair.js';
import { Gateway } from '../../src/gateway.js';
import { ownExchanges, ownQueues, queueArgs, retiredQueues } from '../../src/topology.js';
import { CaseSystemClient, isDestroyOrder } from '../../src/client/index.js';
import type { DestroyOrder, InboxDelivery, StatusEvent, SubmissionInput } from '../../src/client/index.js';
import { REDACT_PATHS } from '../../src/log.js';
import { KeyRing } from '../../src/crypto/keyring.js';
import { seal } from '../../src/crypto/seal.js';
import { RedisMessageState } from '../../src/store/redis-state.js';
import { removeAtEnd, tempDir } from './temp.js';
import { ENVELOPE_VERSION } from '../../src/domain/envelope.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const AMQP_URL = process.env.ACCORD_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
export const REDIS_URL = process.env.ACCORD_REDIS_URL ?? 'redis://127.0.0.1:6379';

// The shipped configs read the identifier key from ACCORD_IDENTIFIER_KEY, with no default: the tests,
// and the `accord` commands they run on those configs, use the test-only key unless one is set.
process.env.ACCORD_IDENTIFIER_KEY ??= TEST_ONLY_IDENTIFIER_KEY;

/** An example submission from examples/messages with a fresh idempotency key, as raw JSON to edit. */
export function example(kind: string, key: string): Record<string, any> {
  const sub = JSON.parse(readFileSync(join(ROOT, 'examples', 'messages', `${kind}.json`), 'utf8')) as Record<
    string,
    any
  >;
  return { ...sub, idempotencyKey: key };
}

/**
 * A signed-envelope body from CZ's cz-pp-ipc to KZ's kz-mia (a travel document by default), valid for
 * an hour from `now`; `over` replaces whole fields. For tests that craft what a peer gateway sends.
 */
export function testEnvelope(over: Record<string, any> = {}, now: number = Date.now()): Record<string, any> {
  return {
    v: ENVELOPE_VERSION,
    id: randomUUID(),
    kind: 'travel-document',
    from: { party: 'CZ', authority: 'cz-pp-ipc' },
    to: { party: 'KZ', authority: 'kz-mia' },
    createdAt: new Date(now).toISOString(),
    expiresAt: new Date(now + 3600_000).toISOString(),
    priority: 'normal',
    language: 'en',
    // A document number is personal data: Art. 10(5) wants the provider's destruction deadline.
    handling: {
      purposes: ['combating-crime'],
      conditions: [],
      sensitive: [],
      destroyBy: new Date(now + 30 * 86_400_000).toISOString(),
    },
    body: { documents: [{ number: 'X1', type: 'passport', status: 'lost' }] },
    ...over,
  };
}

/** Seal an envelope with CZ's keys for KZ, as CZ's gateway would, and return the JWE bytes. */
export async function sealAsCz(config: Config, env: Record<string, any>): Promise<Buffer> {
  const ring = await KeyRing.load(config.keys, config.peer.publicJwks);
  return Buffer.from(await seal(Buffer.from(JSON.stringify(env)), ring, config.crypto));
}

/** A fresh namespace stem, e.g. `t3f9a1c`. */
export function uniqueStem(): string {
  return `t${randomBytes(4).toString('hex')}`;
}

/** The shipped configs of both parties, moved into namespaces `<stem>-cz` / `<stem>-kz`. */
export function pairConfigs(
  stem: string,
  tweak: (raw: Record<string, any>) => void = () => undefined,
): {
  cz: Config;
  kz: Config;
} {
  const raw = configPair(stem);
  for (const party of PARTY_TAGS) {
    // Art. 10(6) records of a test gateway go to a temporary folder, not beside the shipped config.
    raw[party].records = {
      auditFile: join(removeAtEnd(join(tmpdir(), `accord-audit-${stem}`)), `${party}.jsonl`),
    };
    tweak(raw[party]);
  }
  return checkedPair(raw);
}

/** A logger that keeps every line in memory, so tests can scan what was logged. */
export function memoryLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log = pino(
    { level: 'debug', redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
    { write: (s: string) => void lines.push(s) },
  );
  return { log, lines };
}

/** Collects what arrives on a queue and waits for what a test expects. */
export class Collector<T> {
  readonly items: T[] = [];
  private waiters: (() => void)[] = [];

  push(item: T): void {
    this.items.push(item);
    [...this.waiters].forEach((w) => w());
  }

  /** Resolve with the first item matching, waiting up to `timeoutMs`. */
  async waitFor(pred: (item: T) => boolean, timeoutMs = 10_000, what = 'an item'): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.items.find(pred);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`timed out waiting for ${what}; saw ${JSON.stringify(this.items).slice(0, 2000)}`);
      // Each waiter removes only itself: several may wait at once (one per message of a batch).
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(t);
          this.waiters = this.waiters.filter((w) => w !== wake);
          resolve();
        };
        const t = setTimeout(wake, left);
        this.waiters.push(wake);
      });
    }
  }
}

/** A case system of one authority, collecting its inbox and events. */
export interface TestAuthority {
  client: CaseSystemClient;
  inbox: Collector<InboxDelivery>;
  /** Art. 10(5), 18: destroy orders, which arrive in the inbox too. */
  orders: Collector<DestroyOrder>;
  events: Collector<StatusEvent>;
}

export async function authority(config: Config, id: string): Promise<TestAuthority> {
  const client = await CaseSystemClient.connect({
    url: AMQP_URL,
    party: config.party,
    authority: id,
    ...(config.namespace ? { namespace: config.namespace } : {}),
  });
  const inbox = new Collector<InboxDelivery>();
  const orders = new Collector<DestroyOrder>();
  const events = new Collector<StatusEvent>();
  await client.onInbox((d) => (isDestroyOrder(d) ? orders.push(d) : inbox.push(d)));
  await client.onEvent((e) => events.push(e));
  return { client, inbox, orders, events };
}

/** Read every message currently in a queue (and ack them). */
export async function drainQueue(queue: string): Promise<Buffer[]> {
  return (await drainMessages(queue)).map((m) => m.content);
}

/** Read every message currently in a queue with its AMQP properties (and ack them). */
export async function drainMessages(queue: string): Promise<GetMessage[]> {
  const conn = await amqp.connect(AMQP_URL);
  try {
    const ch = await conn.createChannel();
    const out: GetMessage[] = [];
    for (;;) {
      const m = await ch.get(queue, { noAck: true });
      if (m === false) break;
      out.push(m);
    }
    return out;
  } finally {
    await conn.close();
  }
}

/**
 * The ingress of a gateway that ran before and is down now: its queue and peer exchange exist, nobody
 * consumes, so what the other gateway sends it (first sends and resends) stays there to be read.
 */
export async function ingressWithoutGateway(config: Config): Promise<void> {
  const conn = await amqp.connect(AMQP_URL);
  try {
    const ch = await conn.createChannel();
    const n = names(config.namespace);
    await ch.assertQueue(n.ingress, { durable: true, arguments: queueArgs(config) });
    await ch.assertExchange(n.peerExchange, 'direct', { durable: true });
    await ch.bindQueue(n.ingress, n.peerExchange, n.ingress);
  } finally {
    await conn.close();
  }
}

/** Publish raw bytes straight to a queue (as a hostile or broken peer would). */
export async function publishRaw(queue: string, content: Buffer): Promise<void> {
  const conn = await amqp.connect(AMQP_URL);
  try {
    const ch = await conn.createConfirmChannel();
    ch.publish('', queue, content, { persistent: true, contentType: 'application/jose' });
    await ch.waitForConfirms();
  } finally {
    await conn.close();
  }
}

/** Wait until `check` holds, polling; for facts that have no event (a dead letter appearing). */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 10_000,
  what = 'a condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Wait until CZ has learnt, from a heartbeat, that KZ reads transfers. */
export function learnsV2(cz: Gateway): Promise<true> {
  return eventually(
    () => Promise.resolve(cz.peerWireVersion === 2 ? true : undefined),
    15_000,
    'CZ learns KZ reads v2',
  );
}

/** Collect dead letters from a queue until `pred` matches one. */
export async function waitForDeadLetter(
  queue: string,
  pred: (letter: Record<string, unknown>) => boolean,
  seen: Record<string, unknown>[] = [],
  timeoutMs = 10_000,
): Promise<Record<string, unknown>> {
  return eventually(
    async () => {
      for (const b of await drainQueue(queue))
        seen.push(JSON.parse(b.toString('utf8')) as Record<string, unknown>);
      return seen.find(pred);
    },
    timeoutMs,
    `a dead letter in ${queue}`,
  );
}

/** Delete a gateway's queues (retired ones of older versions too) and Redis keys. */
export async function removeNamespace(config: Config): Promise<void> {
  const conn = await amqp.connect(AMQP_URL);
  try {
    const ch = await conn.createChannel();
    for (const q of [...ownQueues(config), ...retiredQueues(config)]) await ch.deleteQueue(q);
    for (const e of ownExchanges(config)) await ch.deleteExchange(e);
  } finally {
    await conn.close();
  }
  const redis = new Redis(REDIS_URL);
  try {
    const match = `${names(config.namespace).redisPrefix}*`;
    for await (const keys of redis.scanStream({ match, count: 500 })) {
      if ((keys as string[]).length > 0) await redis.del(...(keys as string[]));
    }
  } finally {
    redis.disconnect();
  }
}

/** Two running gateways and their configs; `close()` stops them and removes their namespaces. */
export interface Pair {
  cz: Gateway;
  kz: Gateway;
  czConfig: Config;
  kzConfig: Config;
  lines: string[];
  clients: TestAuthority[];
  authority(config: Config, id: string): Promise<TestAuthority>;
  close(): Promise<void>;
}

/** Start both gateways; `now` lets a test drive the gateways' clock (deadlines of days, in a test). */
export async function startPair(tweak?: (raw: Record<string, any>) => void, now?: () => Date): Promise<Pair> {
  const { cz: czConfig, kz: kzConfig } = pairConfigs(uniqueStem(), tweak);
  const { log, lines } = memoryLogger();
  const cz = await Gateway.start(czConfig, log.child({ gw: 'CZ' }), now);
  const kz = await Gateway.start(kzConfig, log.child({ gw: 'KZ' }), now);
  const clients: TestAuthority[] = [];
  return {
    cz,
    kz,
    czConfig,
    kzConfig,
    lines,
    clients,
    async authority(config, id) {
      const a = await authority(config, id);
      clients.push(a);
      return a;
    },
    async close() {
      for (const c of clients) await c.client.close();
      await cz.stop();
      await kz.stop();
      await removeNamespace(czConfig);
      await removeNamespace(kzConfig);
    },
  };
}

/** The built `accord` command. */
export const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');

/** Run `accord` with `args` (and `env` added to this process's); its exit code and output, either way. */
export async function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)('node', [CLI, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** A gateway run by `accord start` in a child process. */
export interface CliGateway {
  /** What it wrote to standard output so far: its log. */
  output(): string;
  /** SIGTERM (unless it has exited), then its exit code; safe to call more than once. */
  stop(): Promise<number | null>;
}

/** `accord start ARGS` in a child process, resolved once it logged `gateway started`. */
export async function startGatewayCli(args: string[], timeoutMs = 15_000): Promise<CliGateway> {
  const child = spawn('node', [CLI, 'start', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const deadline = Date.now() + timeoutMs;
  while (!stdout.includes('gateway started')) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`accord start did not start a gateway: ${stdout}${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    output: () => stdout,
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** The shipped config of a test gateway's party, moved into its namespaces, as a file the CLI can read. */
export function configFileFor(config: Config): string {
  const party = config.party.toLowerCase();
  const raw = JSON.parse(readFileSync(join(ROOT, 'config', `${party}.json`), 'utf8')) as Record<string, any>;
  raw.namespace = config.namespace;
  raw.peer.namespace = config.peer.namespace;
  raw.keys.privateJwks = config.keys.privateJwks;
  raw.peer.publicJwks = config.peer.publicJwks;
  raw.records = { ...raw.records, auditFile: config.records.auditFile };
  const file = join(tempDir('cli'), `${party}.json`);
  writeFileSync(file, JSON.stringify(raw));
  return file;
}

/** An Art. 17 notice from KZ (`from`, kz-mia by default) to CZ's cz-pp-ipc, suspending or resuming drug-trafficking requests. */
export function suspensionNotice(
  key: string,
  action: 'suspend' | 'resume' = 'suspend',
  from = 'kz-mia',
): SubmissionInput {
  return {
    idempotencyKey: key,
    kind: 'suspension-notice',
    from,
    to: { party: 'CZ', authority: 'cz-pp-ipc' },
    body: {
      action,
      scope: { crimeCategories: ['drug-trafficking'] },
      grounds: ['public-order'],
      reason: 'Review of the national drug-enforcement mandate',
    },
  };
}

/** Give each party of a pair its own copy of the example keys, so the test may change them. */
export function ownKeyCopies(): (raw: Record<string, any>) => void {
  const dir = tempDir('keytrust');
  return (raw) => {
    const me = String(raw.party).toLowerCase();
    const peer = me === 'cz' ? 'kz' : 'cz';
    mkdirSync(join(dir, me), { recursive: true });
    const priv = join(dir, me, 'private.jwks.json');
    copyFileSync(join(ROOT, 'certs-example', me, 'private.jwks.json'), priv);
    chmodSync(priv, 0o600);
    const peerFile = join(dir, me, 'peer.jwks.json');
    copyFileSync(join(ROOT, 'certs-example', peer, 'public.jwks.json'), peerFile);
    chmodSync(peerFile, 0o600);
    raw.keys.privateJwks = priv;
    raw.peer.publicJwks = peerFile;
  };
}

/**
 * The sealed bytes the sender keeps of a message it sent, to send again: its own JWE (wire version 1)
 * or the transfer it went in (wire version 2), as a resend would publish them.
 */
export async function sealedCopyOf(config: Config, messageId: string): Promise<string> {
  const redis = new Redis(process.env.ACCORD_REDIS_URL ?? 'redis://127.0.0.1:6379');
  try {
    const state = new RedisMessageState(redis, names(config.namespace).redisPrefix);
    const rec = await state.getSent(messageId);
    const copy = rec === null ? null : await state.sealedCopy(rec);
    if (copy === null) throw new Error(`no sealed copy of ${messageId}`);
    return copy.jwe;
  } finally {
    redis.disconnect();
  }
}
