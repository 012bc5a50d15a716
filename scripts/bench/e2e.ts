/**
 * The full path, measured from outside as a case system sees it: two gateway processes (`accord start`,
 * as deployed), a sender publishing submissions to CZ's outbox, a receiver on KZ's inbox, and CZ's events
 * for the signed receipts (`delivered`). Each gateway serves its admin /metrics on a loopback port of
 * its own, which the bench reads before and after a measured window (CPU, broker publishes and commits).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Channel, ConsumeMessage } from 'amqplib';
import { checkConfigFile, names, type Config } from '../../src/config.js';
import { PARTY_TAGS, configPair, type PartyTag } from '../../src/demo/config-pair.js';
import {
  channelPublisher,
  connectBroker,
  publishSubmission,
  type SubmissionPublisher,
} from '../../src/transport/connect.js';

export interface Gateways {
  cz: Config;
  kz: Config;
  processes: ChildProcess[];
  /** Each process's admin /metrics URL, by party. */
  metricsUrls: Record<PartyTag, string>;
  stop(): Promise<void>;
}

/** The bench gateways' admin token: random per bench run, handed to them in the environment only. */
const ADMIN_TOKEN_ENV = 'ACCORD_BENCH_ADMIN_TOKEN';
const ADMIN_TOKEN = randomBytes(24).toString('hex');

/** A TCP port free on the loopback interface now (the OS's pick; nothing holds it afterwards). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() =>
        typeof address === 'object' && address !== null
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

/** Settings a bench run varies (the rest is config/cz.json and config/kz.json). */
export interface BenchSettings {
  /** `crypto.workers`; the config's default when absent. */
  cryptoWorkers?: number;
  /** `crypto.jobsPerWorker`; the config's default when absent. */
  jobsPerWorker?: number;
  /** `amqp.concurrency`; the config's default when absent. */
  concurrency?: number;
  /** `amqp.prefetch`; 256 when absent (every earlier figure was measured with 256). */
  prefetch?: number;
  /**
   * Replica number (2, 3, …) of a gateway that joins the first one on the same namespaces as a
   * competing consumer: its files get this suffix, and it has an audit file of its own (one writer per file).
   */
  replica?: number;
}

/**
 * Write both parties' configs into `dir` under namespaces `<stem>-cz` / `<stem>-kz`, each with its
 * admin server on a free loopback port (for /metrics).
 */
export async function benchConfigs(
  dir: string,
  stem: string,
  amqpUrl: string,
  redisUrl: string,
  settings: BenchSettings = {},
) {
  const pair = configPair(stem, { keysDir: dir });
  const files: Record<PartyTag, string> = { cz: '', kz: '' };
  for (const party of PARTY_TAGS) {
    const raw = pair[party];
    raw.amqp = {
      url: amqpUrl,
      prefetch: settings.prefetch ?? 256,
      ...(settings.concurrency === undefined ? {} : { concurrency: settings.concurrency }),
    };
    raw.peer.amqpUrl = amqpUrl;
    raw.redis = { url: redisUrl };
    raw.crypto = {
      ...(settings.cryptoWorkers === undefined ? {} : { workers: settings.cryptoWorkers }),
      ...(settings.jobsPerWorker === undefined ? {} : { jobsPerWorker: settings.jobsPerWorker }),
    };
    const suffix = settings.replica === undefined ? '' : `-r${settings.replica}`;
    raw.records = { auditFile: join(dir, `audit-${party}${suffix}.jsonl`) };
    raw.admin = { port: await freePort(), tokenEnv: ADMIN_TOKEN_ENV };
    files[party] = join(dir, `${party}${suffix}.json`);
    writeFileSync(files[party], JSON.stringify(raw, null, 2));
  }
  return files;
}

function loaded(file: string): Config {
  const check = checkConfigFile(file);
  if (!check.ok) throw new Error(check.issues.join('\n'));
  return check.config;
}

/** Extra node flags for the gateway processes, e.g. `ACCORD_BENCH_NODE_ARGS=--cpu-prof` to profile them. */
const nodeArgs = (process.env.ACCORD_BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');

/**
 * Start both gateways as processes and wait until each party's outbox has `consumers` consumers (more
 * than 1 when these processes join running ones as replicas).
 */
export async function startGateways(
  root: string,
  files: Record<'cz' | 'kz', string>,
  consumers = 1,
): Promise<Gateways> {
  const cli = join(root, 'dist', 'src', 'cli', 'main.js');
  const processes = (['kz', 'cz'] as const).map((p) =>
    spawn(process.execPath, [...nodeArgs, cli, 'start', '--config', files[p]], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, ACCORD_LOG_LEVEL: 'warn', [ADMIN_TOKEN_ENV]: ADMIN_TOKEN },
    }),
  );
  const cz = loaded(files.cz);
  const kz = loaded(files.kz);
  const conn = await connectBroker(cz.amqp, { name: 'accord-bench-ready' });
  try {
    for (const c of [cz, kz]) {
      for (let i = 0; ; i++) {
        const ch = await conn.createChannel();
        ch.on('error', () => undefined);
        const ready = await ch
          .checkQueue(names(c.namespace).outbox)
          .then((q) => q.consumerCount >= consumers)
          .catch(() => false);
        await ch.close().catch(() => undefined);
        if (ready) break;
        if (i > 300) throw new Error(`the ${c.party} gateway did not start`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } finally {
    await conn.close();
  }
  const metricsUrl = (c: Config) => `http://127.0.0.1:${c.admin!.port}/metrics`;
  return {
    cz,
    kz,
    processes,
    metricsUrls: { cz: metricsUrl(cz), kz: metricsUrl(kz) },
    async stop() {
      for (const p of processes) {
        if (p.exitCode !== null) continue;
        p.kill('SIGTERM');
        await new Promise((r) => p.once('exit', r));
      }
    },
  };
}

/** What one gateway process counted so far: its CPU, and what it wrote to the brokers. */
export interface GatewayCounters {
  /** `process_cpu_seconds_total`: user + system CPU of the whole process (process.cpuUsage()), seconds. */
  cpuS: number;
  /** `accord_broker_published_total`, by kind. */
  published: Record<string, number>;
  /** `accord_broker_commits_total`. */
  commits: number;
}

/** Read one gateway's counters from its /metrics (Prometheus text). */
export async function readCounters(url: string): Promise<GatewayCounters> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  if (!res.ok) throw new Error(`${url}: ${res.status}`);
  const out: GatewayCounters = { cpuS: NaN, published: {}, commits: NaN };
  for (const line of (await res.text()).split('\n')) {
    const m = /^([a-z_]+)(?:\{kind="([a-z-]+)"\})? (\S+)$/.exec(line);
    if (!m) continue;
    const value = Number(m[3]);
    if (m[1] === 'process_cpu_seconds_total') out.cpuS = value;
    else if (m[1] === 'accord_broker_commits_total') out.commits = value;
    else if (m[1] === 'accord_broker_published_total' && m[2] !== undefined) out.published[m[2]] = value;
  }
  if (Number.isNaN(out.cpuS) || Number.isNaN(out.commits)) {
    throw new Error(`${url}: no process_cpu_seconds_total or accord_broker_commits_total`);
  }
  return out;
}

/** Resident set size of a process in MiB (Linux). */
export function rssMb(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

/** A submission of about `size` bytes: an Art. 6 list of travel documents, with persons when larger. */
export function submission(key: string, size: number, priority: 'normal' | 'urgent' = 'normal'): Buffer {
  const doc = (i: number) => ({
    number: `B${String(i).padStart(8, '0')}`,
    type: 'passport',
    status: 'lost',
    issuingState: 'CZ',
    reportedOn: '2026-11-01',
  });
  const base = {
    idempotencyKey: key,
    from: 'cz-pp-ipc',
    to: { party: 'KZ', authority: 'kz-mia' },
    priority,
  };
  if (size <= 100_000) {
    const n = Math.max(1, Math.min(1000, Math.round((size - 200) / 95)));
    return Buffer.from(
      JSON.stringify({
        ...base,
        kind: 'travel-document',
        body: { documents: Array.from({ length: n }, (_, i) => doc(i)) },
      }),
    );
  }
  const persons: Record<string, unknown>[] = [];
  const body = {
    crimeCategories: ['forgery'],
    informationTypes: ['travel-documents'],
    summary: 'Bulk list of documents and holders',
    details: 'x'.repeat(20_000),
    travelDocuments: Array.from({ length: 1000 }, (_, i) => doc(i)),
    persons,
  };
  const alias = (i: number) => `Alias ${i} `.padEnd(190, 'a');
  while (JSON.stringify(body).length < size - 5000 && persons.length < 100) {
    persons.push({
      familyName: `Holder ${persons.length}`,
      aliases: Array.from({ length: 20 }, (_, i) => alias(i)),
    });
  }
  return Buffer.from(JSON.stringify({ ...base, kind: 'spontaneous', body }));
}

export interface Flow {
  /** CZ's cz-pp-ipc, submitting as a case system does (connect.ts). */
  publisher: SubmissionPublisher;
  /** CZ's namespace. */
  namespace: string | undefined;
  /** Arrival time in the inbox, by idempotency key. */
  arrived: Map<string, number>;
  /** Receipt (`delivered` event) time, by idempotency key. */
  delivered: Map<string, number>;
  close(): Promise<void>;
}

/** Connect a sender to CZ's outbox and collectors to KZ's inbox and CZ's events. */
export async function flow(g: Gateways): Promise<Flow> {
  const conn = await connectBroker(g.cz.amqp, { name: 'accord-bench-flow' });
  const publisher = channelPublisher(await conn.createConfirmChannel(), g.cz.amqp);
  const arrived = new Map<string, number>();
  const delivered = new Map<string, number>();
  const collect = async (queue: string, on: (m: ConsumeMessage, ch: Channel) => void) => {
    const ch = await conn.createChannel();
    await ch.prefetch(512);
    await ch.consume(queue, (m) => {
      if (m) on(m, ch);
    });
  };
  await collect(names(g.kz.namespace).inbox('kz-mia'), (m, ch) => {
    const d = JSON.parse(m.content.toString('utf8')) as { envelope: { id: string } };
    arrived.set(d.envelope.id, performance.now());
    ch.ack(m);
  });
  await collect(names(g.cz.namespace).events('cz-pp-ipc'), (m, ch) => {
    const e = JSON.parse(m.content.toString('utf8')) as { type: string; messageId?: string };
    if (e.type === 'delivered' && e.messageId) delivered.set(e.messageId, performance.now());
    ch.ack(m);
  });
  return { publisher, namespace: g.cz.namespace, arrived, delivered, close: () => conn.close() };
}

/** Submit one submission to CZ's outbox as a case system does; resolves on the broker's confirm. */
export function submit(f: Flow, content: Buffer, urgent = false): Promise<void> {
  return publishSubmission(f.publisher, f.namespace, content, { urgent });
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
