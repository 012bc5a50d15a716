/**
 * `npm run bench`: throughput and latency of the full path (outbox → CZ gateway → KZ gateway → inbox,
 * signed receipts back) for 1 KiB, 16 KiB and 256 KiB submissions, with the baselines measured in the
 * same run: raw AMQP over the same hops, the JOSE seal/open rates, and the straightforward pipeline.
 * For the full-path scenarios it also reads each gateway's /metrics before and after the measured window:
 * CPU milliseconds per logical message (CZ, KZ, both), broker messages published (the case system's
 * submissions included) and transactions committed per logical message, and the throughput as a
 * percentage of raw AMQP over the same hops.
 * Prints a table and one JSON line per scenario, and writes the lines to bench/results/latest.json.
 * Not part of `npm test`: timing belongs here. `--quick` runs fewer messages; `--soak MIN` adds a soak
 * of MIN minutes at a fixed load, sampling each gateway's RSS; `--only a,b` runs just those scenarios;
 * `--concurrency`, `--prefetch`, `--crypto-workers`, `--jobs-per-worker` set the gateways' settings.
 *
 * Uses the local RabbitMQ and Redis (ACCORD_AMQP_URL, ACCORD_REDIS_URL), in namespaces of its own.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { names, type Config } from '../src/config.js';
import { messageIdFor } from '../src/domain/ids.js';
import { ownExchanges, ownQueues, retiredQueues } from '../src/topology.js';
import { connectBroker } from '../src/transport/connect.js';
import { joseRates, naivePipeline, nodeJoseRates, rawAmqp } from './bench/baselines.js';
import {
  benchConfigs,
  flow,
  percentile,
  readCounters,
  rssMb,
  startGateways,
  submission,
  submit,
  type Flow,
  type GatewayCounters,
  type Gateways,
} from './bench/e2e.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const AMQP_URL = process.env.ACCORD_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const REDIS_URL = process.env.ACCORD_REDIS_URL ?? 'redis://127.0.0.1:6379';
const USAGE = `npm run bench -- [--quick] [--only a,b] [--scale-only] [--soak MIN] [--soak-rate N]
  [--crypto-workers N] [--jobs-per-worker N] [--concurrency N] [--prefetch N]
Throughput and latency of the full path against the baselines (docs/performance.md).`;

/** The options; an unknown one or a bad number stops the bench with one line (exit 2). */
function options() {
  try {
    return parseArgs({ options: OPTIONS, strict: true }).values;
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
}
const OPTIONS = {
  /** This help. */
  help: { type: 'boolean', default: false },
  /** Fewer messages per scenario (about 4 minutes in all). */
  quick: { type: 'boolean', default: false },
  /** A soak of MIN minutes at a fixed load, sampling each gateway's RSS. */
  soak: { type: 'string' },
  /** The soak's offered load, messages per second (200 unless given). */
  'soak-rate': { type: 'string' },
  /** The gateways' `crypto.workers` (their config's default otherwise). */
  'crypto-workers': { type: 'string' },
  /** The gateways' `crypto.jobsPerWorker`. */
  'jobs-per-worker': { type: 'string' },
  /** The gateways' `amqp.concurrency`. */
  concurrency: { type: 'string' },
  /** The gateways' `amqp.prefetch` (256 unless given). */
  prefetch: { type: 'string' },
  /** Only these scenarios (comma-separated, e.g. `urgent-under-load,e2e-1k`). */
  only: { type: 'string' },
  /** Only the 1 → 2 processes scenario (the same as `--only e2e-1k-2proc`). */
  'scale-only': { type: 'boolean', default: false },
} as const;
const opts = options();
if (opts.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
function count(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} takes a whole number, not "${value}"`);
  return n;
}
const quick = opts.quick;
const soakMinutes = count('soak', opts.soak) ?? 0;
const soakRate = count('soak-rate', opts['soak-rate']) ?? 200;
const cryptoWorkers = count('crypto-workers', opts['crypto-workers']);
const jobsPerWorker = count('jobs-per-worker', opts['jobs-per-worker']);
const concurrency = count('concurrency', opts.concurrency);
const prefetch = count('prefetch', opts.prefetch);
const SCENARIOS = [
  'jose-1k',
  'e2e-1k',
  'e2e-16k',
  'e2e-256k',
  'urgent-under-load',
  'soak-1k',
  'e2e-1k-2proc',
] as const;
const only = opts['scale-only'] ? ['e2e-1k-2proc'] : opts.only?.split(',').map((o) => o.trim());
for (const o of only ?? []) {
  if (!(SCENARIOS as readonly string[]).includes(o)) {
    throw new Error(`--only: no scenario "${o}" (there are ${SCENARIOS.join(', ')})`);
  }
}
/** Whether this run measures `scenario` (the soak only when `--soak` gives its length). */
const wanted = (scenario: (typeof SCENARIOS)[number]) =>
  (scenario !== 'soak-1k' || soakMinutes > 0) && (only === undefined || only.includes(scenario));

interface Line {
  scenario: string;
  msgs_per_s: number;
  p50_ms: number | null;
  p99_ms: number | null;
  rss_mb: number | null;
  raw_amqp_msgs_per_s: number | null;
  naive_msgs_per_s: number | null;
  [extra: string]: unknown;
}

const lines: Line[] = [];
const say = (s: string) => process.stderr.write(`bench: ${s}\n`);
const round = (n: number | null, digits = 1) =>
  n === null || Number.isNaN(n) ? null : Number(n.toFixed(digits));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

type Party = 'cz' | 'kz';
const PARTIES: readonly Party[] = ['cz', 'kz'];
/** Both parties' counters, each summed over the party's processes. */
type Snapshot = Record<Party, GatewayCounters>;

/** Read every gateway process's counters; `gs` is the first pair and, when running, the replicas. */
async function snapshot(gs: Gateways[]): Promise<Snapshot> {
  const party = async (p: Party): Promise<GatewayCounters> => {
    const all = await Promise.all(gs.map((g) => readCounters(g.metricsUrls[p])));
    const sum: GatewayCounters = { cpuS: 0, published: {}, commits: 0 };
    for (const c of all) {
      sum.cpuS += c.cpuS;
      sum.commits += c.commits;
      for (const [k, v] of Object.entries(c.published)) sum.published[k] = (sum.published[k] ?? 0) + v;
    }
    return sum;
  };
  return { cz: await party('cz'), kz: await party('kz') };
}

/**
 * What one logical message cost between two snapshots: gateway CPU ms (each party, and both), broker
 * messages published by kind (`submission`: the case system's, counted here) and commits.
 */
function perMessage(before: Snapshot, after: Snapshot, messages: number, submissions: number) {
  const per = (n: number) => round(n / messages, 2);
  const cpuMs = (p: Party) => (after[p].cpuS - before[p].cpuS) * 1000;
  const commits = (p: Party) => after[p].commits - before[p].commits;
  const byKind: Record<string, number> = { submission: submissions };
  for (const p of PARTIES) {
    for (const [k, v] of Object.entries(after[p].published)) {
      byKind[k] = (byKind[k] ?? 0) + v - (before[p].published[k] ?? 0);
    }
  }
  const published = Object.values(byKind).reduce((a, b) => a + b, 0);
  return {
    cpu_ms_per_msg_cz: per(cpuMs('cz')),
    cpu_ms_per_msg_kz: per(cpuMs('kz')),
    cpu_ms_per_msg: per(cpuMs('cz') + cpuMs('kz')),
    broker_published_per_msg: per(published),
    broker_published_per_msg_by_kind: Object.fromEntries(
      Object.entries(byKind)
        .filter(([, v]) => v !== 0)
        .map(([k, v]) => [k, per(v)]),
    ),
    broker_commits_per_msg_cz: per(commits('cz')),
    broker_commits_per_msg_kz: per(commits('kz')),
    broker_commits_per_msg: per(commits('cz') + commits('kz')),
  };
}

/** The cost of a window on one line of the progress output. */
function sayCost(scenario: string, cost: ReturnType<typeof perMessage>): void {
  const kinds = Object.entries(cost.broker_published_per_msg_by_kind)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  say(
    `${scenario}: per message, CPU ms CZ ${cost.cpu_ms_per_msg_cz}, KZ ${cost.cpu_ms_per_msg_kz}; broker publishes ${cost.broker_published_per_msg} (${kinds}); commits CZ ${cost.broker_commits_per_msg_cz}, KZ ${cost.broker_commits_per_msg_kz}`,
  );
}

let seq = 0;
const key = (scenario: string) => `bench/${scenario}/${seq++}`;
const idOf = (k: string) => messageIdFor('CZ', 'cz-pp-ipc', k);

/** Saturation: publish `count` at once (a window of confirms), until every signed receipt is back. */
async function saturate(f: Flow, scenario: string, count: number, size: number): Promise<number> {
  const ids: string[] = [];
  const t0 = performance.now();
  const window: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const k = key(scenario);
    ids.push(idOf(k));
    window.push(submit(f, submission(k, size)));
    if (window.length >= 256) await Promise.all(window.splice(0));
  }
  await Promise.all(window);
  await waitFor(() => ids.every((id) => f.delivered.has(id)), 600_000, `${count} receipts`);
  const last = Math.max(...ids.map((id) => f.delivered.get(id)!));
  if (!ids.every((id) => f.arrived.has(id))) throw new Error('a receipt came for a message not in the inbox');
  return count / ((last - t0) / 1000);
}

/** Fixed offered load: `rate` per second for `seconds`; latency from the submit to the inbox. */
async function offer(
  f: Flow,
  scenario: string,
  rate: number,
  seconds: number,
  size: number,
): Promise<number[]> {
  const sent = new Map<string, number>();
  const tickMs = 10;
  const perTick = rate / (1000 / tickMs);
  let owed = 0;
  const end = performance.now() + seconds * 1000;
  const pending: Promise<void>[] = [];
  while (performance.now() < end) {
    owed += perTick;
    while (owed >= 1) {
      owed -= 1;
      const k = key(scenario);
      sent.set(idOf(k), performance.now());
      pending.push(submit(f, submission(k, size)));
    }
    await sleep(tickMs);
  }
  await Promise.all(pending);
  await waitFor(() => [...sent.keys()].every((id) => f.arrived.has(id)), 600_000, 'the offered messages');
  return [...sent].map(([id, at]) => f.arrived.get(id)! - at);
}

/** Urgent requests in {@link urgentUnderLoad}. */
const URGENT_COUNT = 40;

/** An urgent request every 50 ms while bulk traffic saturates the link; the urgent ones' latency. */
async function urgentUnderLoad(f: Flow, bulk: number): Promise<number[]> {
  const bulkDone = (async () => {
    const window: Promise<void>[] = [];
    for (let i = 0; i < bulk; i++) {
      window.push(submit(f, submission(key('bulk'), 1024)));
      if (window.length >= 256) await Promise.all(window.splice(0));
    }
    await Promise.all(window);
  })();
  await sleep(200);
  const sent = new Map<string, number>();
  for (let i = 0; i < URGENT_COUNT; i++) {
    const k = key('urgent');
    sent.set(idOf(k), performance.now());
    await submit(f, submission(k, 1024, 'urgent'), true);
    await sleep(50);
  }
  await bulkDone;
  await waitFor(() => [...sent.keys()].every((id) => f.arrived.has(id)), 600_000, 'the urgent messages');
  return [...sent].map(([id, at]) => f.arrived.get(id)! - at);
}

async function drain(g: Gateways, f: Flow): Promise<void> {
  // Let the previous scenario's stragglers (receipts, resends) settle before the next one.
  let last = -1;
  for (;;) {
    const now = f.delivered.size + f.arrived.size;
    if (now === last) return;
    last = now;
    await sleep(500);
  }
  void g;
}

async function cleanup(configs: Config[], stem: string): Promise<void> {
  const conn = await connectBroker(configs[0]!.amqp, { name: 'accord-bench-cleanup' });
  const ch = await conn.createChannel();
  for (const c of configs) {
    for (const q of [...ownQueues(c), ...retiredQueues(c)]) await ch.deleteQueue(q).catch(() => undefined);
  }
  for (const c of configs) for (const e of ownExchanges(c)) await ch.deleteExchange(e).catch(() => undefined);
  await conn.close();
  const redis = new Redis(REDIS_URL);
  for (const c of configs) {
    const match = `${names(c.namespace).redisPrefix}*`;
    for await (const batch of redis.scanStream({ match, count: 1000 })) {
      if ((batch as string[]).length > 0) await redis.del(...(batch as string[]));
    }
  }
  redis.disconnect();
  void stem;
}

async function main(): Promise<void> {
  const stem = `bench-${randomBytes(3).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'accord-bench-'));
  const settings = { cryptoWorkers, jobsPerWorker, concurrency, prefetch };
  const files = await benchConfigs(dir, stem, AMQP_URL, REDIS_URL, settings);
  say(
    `gateways in namespaces ${stem}-cz / ${stem}-kz; ${quick ? 'quick run' : 'full run'}; crypto.workers ${cryptoWorkers ?? 'default'}, jobsPerWorker ${jobsPerWorker ?? 'default'}, amqp.concurrency ${concurrency ?? 'default'}, amqp.prefetch ${prefetch ?? 256}`,
  );
  const g = await startGateways(ROOT, files);
  const f = await flow(g);
  const rss = () => Math.max(...g.processes.map((p) => rssMb(p.pid)));
  try {
    await scenarios(g, f, rss, stem);
    if (wanted('e2e-1k-2proc')) {
      // The second process of each party: same namespaces, broker and Redis; its own audit file. Its
      // admin port is picked now, not at the start: a port free then may be a connection's by now
      // (a run failed with "fetch failed" reading the replica's /metrics).
      const replicaFiles = await benchConfigs(dir, stem, AMQP_URL, REDIS_URL, { ...settings, replica: 2 });
      await scaleOut(g, f, rss, replicaFiles);
    }
  } finally {
    await f.close().catch(() => undefined);
    await g.stop();
    await cleanup([g.cz, g.kz], stem);
  }
  printLines();
}

/** 1 → 2 processes per party: the same saturation before and after a second process joins. */
async function scaleOut(
  g: Gateways,
  f: Flow,
  rss: () => number,
  replicaFiles: Record<'cz' | 'kz', string>,
): Promise<void> {
  const count = quick ? 1000 : 4000;
  say(`e2e-1k-2proc: saturation (${count} messages) with one process per party`);
  const one = await saturate(f, 'e2e-1k-1proc', count, 1024);
  await drain(g, f);
  say('e2e-1k-2proc: a second process per party joins as a competing consumer');
  const replicas = await startGateways(ROOT, replicaFiles, 2);
  try {
    say(`e2e-1k-2proc: saturation (${count} messages) with two processes per party`);
    const before = await snapshot([g, replicas]);
    const two = await saturate(f, 'e2e-1k-2proc', count, 1024);
    await drain(g, f);
    const cost = perMessage(before, await snapshot([g, replicas]), count, count);
    sayCost('e2e-1k-2proc', cost);
    lines.push({
      scenario: 'e2e-1k-2proc',
      msgs_per_s: round(two)!,
      one_proc_msgs_per_s: round(one),
      speedup: round(two / one, 2),
      p50_ms: null,
      p99_ms: null,
      rss_mb: round(Math.max(rss(), ...replicas.processes.map((p) => rssMb(p.pid)))),
      raw_amqp_msgs_per_s: null,
      naive_msgs_per_s: null,
      ...cost,
    });
  } finally {
    await replicas.stop();
  }
}

/** The scenarios of every run: JOSE rates, the three sizes against their baselines, urgent under load, soak. */
async function scenarios(g: Gateways, f: Flow, rss: () => number, stem: string): Promise<void> {
  if (wanted('jose-1k')) {
    const jose = await joseRates(g.cz, g.kz, 1024);
    const nj = await nodeJoseRates(g.cz, g.kz, 1024);
    say(
      `JOSE 1 KiB, one thread: Accord seal ${jose.seal.toFixed(0)}/s, open ${jose.open.toFixed(0)}/s; node-jose as it comes seal ${nj.seal.toFixed(0)}/s, open ${nj.open.toFixed(0)}/s`,
    );
    lines.push({
      scenario: 'jose-1k',
      msgs_per_s: round(jose.seal)!,
      open_per_s: round(jose.open),
      node_jose_seal_per_s: round(nj.seal),
      node_jose_open_per_s: round(nj.open),
      p50_ms: null,
      p99_ms: null,
      rss_mb: null,
      raw_amqp_msgs_per_s: null,
      naive_msgs_per_s: null,
    });
  }
  {
    const plan = [
      {
        name: 'e2e-1k',
        size: 1024,
        count: quick ? 1000 : 4000,
        rate: 500,
        raw: 5000,
        naive: quick ? 200 : 500,
      },
      {
        name: 'e2e-16k',
        size: 16 * 1024,
        count: quick ? 500 : 2000,
        rate: 200,
        raw: 3000,
        naive: quick ? 100 : 300,
      },
      {
        name: 'e2e-256k',
        size: 256 * 1024,
        count: quick ? 100 : 300,
        rate: 20,
        raw: 500,
        naive: quick ? 30 : 60,
      },
    ] as const;
    for (const s of plan.filter((p) => wanted(p.name))) {
      say(`${s.name}: raw AMQP baseline (${s.raw} messages)`);
      const raw = await rawAmqp(AMQP_URL, stem, s.raw, s.size);
      say(`${s.name}: straightforward pipeline (${s.naive} messages)`);
      const naive = await naivePipeline(AMQP_URL, stem, g.cz, g.kz, s.naive, s.size);
      say(`${s.name}: saturation (${s.count} messages, until every signed receipt is back)`);
      const before = await snapshot([g]);
      const rate = await saturate(f, s.name, s.count, s.size);
      await drain(g, f);
      const cost = perMessage(before, await snapshot([g]), s.count, s.count);
      sayCost(s.name, cost);
      say(`${s.name}: fixed load ${s.rate}/s for ${quick ? 5 : 10} s`);
      const lat = await offer(f, s.name, s.rate, quick ? 5 : 10, s.size);
      await drain(g, f);
      // The target's load may be beyond what this machine saturates at; latency at half of its own
      // saturation says what a message waits for when nothing queues.
      const half = Math.max(1, Math.floor(rate / 2));
      say(`${s.name}: fixed load ${half}/s (half the saturation) for ${quick ? 5 : 10} s`);
      const calm = await offer(f, s.name, half, quick ? 5 : 10, s.size);
      await drain(g, f);
      lines.push({
        scenario: s.name,
        msgs_per_s: round(rate)!,
        p50_ms: round(percentile(lat, 50)),
        p99_ms: round(percentile(lat, 99)),
        offered_per_s: s.rate,
        half_saturation_per_s: half,
        half_saturation_p50_ms: round(percentile(calm, 50)),
        half_saturation_p99_ms: round(percentile(calm, 99)),
        rss_mb: round(rss()),
        raw_amqp_msgs_per_s: round(raw),
        naive_msgs_per_s: round(naive),
        vs_naive: round(rate / naive),
        pct_of_raw_amqp: round((100 * rate) / raw),
        ...cost,
      });
    }
  }
  if (wanted('urgent-under-load')) {
    say('urgent requests while 1 KiB bulk traffic saturates the link');
    const bulk = quick ? 1000 : 4000;
    const before = await snapshot([g]);
    const urgent = await urgentUnderLoad(f, bulk);
    await drain(g, f);
    const cost = perMessage(before, await snapshot([g]), bulk + URGENT_COUNT, bulk + URGENT_COUNT);
    sayCost('urgent-under-load', cost);
    lines.push({
      scenario: 'urgent-under-load',
      msgs_per_s: 20,
      p50_ms: round(percentile(urgent, 50)),
      p99_ms: round(percentile(urgent, 99)),
      rss_mb: round(rss()),
      raw_amqp_msgs_per_s: null,
      naive_msgs_per_s: null,
      ...cost,
    });
  }
  if (wanted('soak-1k')) {
    say(`soak: ${soakMinutes} min at ${soakRate}/s, 1 KiB, RSS sampled every 30 s`);
    const samples: number[] = [];
    const lat: number[] = [];
    for (let m = 0; m < soakMinutes * 2; m++) {
      lat.push(...(await offer(f, 'soak', soakRate, 30, 1024)));
      samples.push(rss());
      say(`soak: ${(m + 1) / 2} min, RSS ${rss().toFixed(0)} MB (the larger gateway)`);
    }
    lines.push({
      scenario: 'soak-1k',
      msgs_per_s: soakRate,
      p50_ms: round(percentile(lat, 50)),
      p99_ms: round(percentile(lat, 99)),
      rss_mb: round(Math.max(...samples)),
      rss_first_mb: round(samples[0]!),
      rss_last_mb: round(samples.at(-1)!),
      rss_samples_mb: samples.map((r) => round(r)),
      raw_amqp_msgs_per_s: null,
      naive_msgs_per_s: null,
    });
  }
}

function printLines(): void {
  // [heading, JSON field]; per message: CPU ms of each gateway and both, broker publishes and commits.
  const cols: [string, string][] = [
    ['scenario', 'scenario'],
    ['msgs_per_s', 'msgs_per_s'],
    ['p50_ms', 'p50_ms'],
    ['p99_ms', 'p99_ms'],
    ['rss_mb', 'rss_mb'],
    ['raw_amqp_msgs_per_s', 'raw_amqp_msgs_per_s'],
    ['%raw', 'pct_of_raw_amqp'],
    ['naive_msgs_per_s', 'naive_msgs_per_s'],
    ['x_naive', 'vs_naive'],
    ['cpu_ms_cz', 'cpu_ms_per_msg_cz'],
    ['cpu_ms_kz', 'cpu_ms_per_msg_kz'],
    ['cpu_ms', 'cpu_ms_per_msg'],
    ['published', 'broker_published_per_msg'],
    ['commits', 'broker_commits_per_msg'],
  ];
  const table = [
    cols.map(([heading]) => heading),
    ...lines.map((l) => cols.map(([, c]) => JSON.stringify(l[c] ?? '-').replace(/^"|"$/g, ''))),
  ];
  const widths = cols.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  for (const r of table) process.stdout.write(`${r.map((c, i) => c.padEnd(widths[i]!)).join('  ')}\n`);
  process.stdout.write('\n');
  for (const l of lines) process.stdout.write(`${JSON.stringify(l)}\n`);
  const out = join(ROOT, 'bench', 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'latest.json'), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  say(`written to bench/results/latest.json`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
