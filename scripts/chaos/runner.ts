/**
 * The fault suite: N messages from CZ to KZ while RabbitMQ is killed and restarted, Redis is
 * killed and restarted, each gateway is killed with SIGKILL and restarted by its supervisor, and the
 * link between the gateways is cut (a TCP proxy the suite owns). Then it reconciles what was submitted
 * against what reached the KZ inbox and the receipts at CZ, in the Jepsen vocabulary: lost,
 * duplicated, unexpected, and receipt gaps, and verifies every gateway process's audit file.
 *
 * Besides those faults at random moments, five are forced inside a transfer of several members at its
 * most delicate points (src/faults.ts, each after a burst of submissions): CZ killed with the transfer
 * stored but not published, and published but not marked sent; KZ killed with half the members claimed
 * and none committed, and committed with no receipt sent; and KZ held with half the members claimed
 * while RabbitMQ is killed and restarted — a broker kill between a transfer's publish and its receipt.
 * A run in which one of them was not reached does not pass.
 *
 * With `replicas` > 1 each party runs that many gateway processes on the same namespace, broker and
 * Redis (docs/cluster.md), each with its own audit file. Each gateway kill lands on another replica, and
 * one more kill takes KZ's delivered-log active consumer right after the second RabbitMQ restart, when
 * copies that come back wait on the delivered-log barrier.
 */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { names } from '../../src/config.js';
import { FAULTS_ENV, faultFiles, type FaultPoint } from '../../src/faults.js';
import { configPair, type PartyTag } from '../../src/demo/config-pair.js';
import { messageIdFor } from '../../src/domain/ids.js';
import { DELIVERY_HEADER } from '../../src/pipeline/inbound.js';
import { AmqpConnection } from '../../src/transport/amqp.js';
import { publishSubmission } from '../../src/transport/connect.js';
import { rssMb } from '../bench/e2e.js';
import {
  ChaosCluster,
  ChaosRabbit,
  ChaosRedis,
  GatewayProcess,
  freePort,
  processOwningPort,
} from './services.js';
import { TcpProxy } from './tcp-proxy.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export interface ChaosOptions {
  messages: number;
  /** Submissions per second. */
  rate: number;
  /** How long the link between the gateways stays cut. */
  linkCutS: number;
  /** Give up when nothing progresses for this long after the last fault. */
  quietS: number;
  seed: number;
  /** Gateway processes per party (docs/cluster.md). @defaultValue 1 */
  replicas?: number;
  /**
   * Instead of the mixed faults: the peer link cut for this many seconds, starting 10 s into the run,
   * while submissions go on at `rate`; the gateways' memory, the outbox and the resend timers are
   * sampled throughout (docs/reliability.md, "A long peer outage").
   */
  outageS?: number;
  /**
   * A RabbitMQ cluster of this many nodes instead of one node: the gateways on quorum queues, reaching
   * the nodes through a proxy that stands in for a load balancer; instead of the mixed faults, the node
   * leading KZ's ingress queue is killed, and later another node (docs/cluster.md).
   */
  cluster?: number;
  /**
   * Instead of the mixed faults: each party on a Redis of its own, and both lose their data
   * (FLUSHALL) mid-run — CZ's while receipts are awaited, KZ's while the link is cut, so that CZ's
   * resends after the cut reach a KZ that has to know from its rebuild what it delivered before
   * (docs/reliability.md, "Redis loses its data").
   */
  redisLoss?: boolean;
  /** Progress lines go here. */
  say: (line: string) => void;
  /**
   * Remove the run's folder (logs, broker and Redis data, copies of the test keys) when the run ends,
   * as a test must; `npm run chaos` keeps it for reading the logs. @defaultValue false
   */
  removeDir?: boolean;
}

export interface ChaosResult {
  sent: number;
  delivered: number;
  lost: number;
  duplicated: number;
  unexpected: number;
  receipt_gaps: number;
  failed: number;
  dead_letters: number;
  /** Gateway processes per party. */
  replicas: number;
  restarts: {
    rabbitmq: number;
    redis: number;
    gateway_cz: number;
    gateway_kz: number;
    link_cuts: number;
    redis_flushes: number;
  };
  /** Lines of `alert.redis_lost` in the gateway logs (one per rebuild after a loss). */
  redis_loss_alerts: number;
  /** Each gateway kill: which process, when, and whether it was its party's delivered-log active consumer. */
  kills: GatewayKill[];
  /** The faults forced at a point inside a transfer (src/faults.ts), with the mixed faults. */
  forced: ForcedFault[];
  /** Messages sent in bursts for the forced faults, on top of the paced ones (counted in `sent`). */
  burst_messages: number;
  /** `accord audit verify` of every gateway process's audit file, after the run. */
  audit: { files: number; verified: number; failures: string[] };
  seconds: number;
  dir: string;
  /** A few ids of each kind of gap, for reading the gateway logs. */
  examples: { lost: string[]; duplicated: string[]; receipt_gaps: string[] };
  /** With `outageS`: what was sampled while the link was cut, and how long the backlog took after. */
  outage?: OutageFigures;
}

/** The samples of a long peer outage (every 10 s while the link is cut). */
export interface OutageFigures {
  seconds: number;
  /** Resident memory of each CZ / KZ gateway process, MB: first sample, smallest, largest, last. */
  rss_mb: Record<string, { first: number; min: number; max: number; last: number }>;
  /** Submissions waiting on CZ's outbox queue (in the broker): largest and last sample. */
  outbox_max: number;
  outbox_last: number;
  /** CZ's resend timers (receipt checks scheduled in Redis): largest sample. */
  resend_timers_max: number;
  /** Seconds from the link's return until every message was delivered and receipted. */
  drain_s: number | undefined;
}

export interface GatewayKill {
  /** e.g. `KZ r1` (`KZ` with one process per party). */
  gateway: string;
  /** Seconds since the run started. */
  atS: number;
  /** Whether it held the party's delivered-log as active consumer; undefined when that could not be told. */
  activeConsumer: boolean | undefined;
}

/** A fault forced at a point inside a transfer: a gateway killed there, or held there while RabbitMQ is. */
export interface ForcedFault {
  point: FaultPoint;
  /** `kill`: the gateway kills itself there; `hold`: it waits there while RabbitMQ is killed and restarted. */
  action: 'kill' | 'hold';
  /** The process that reached the point, when one did. */
  gateway?: string;
  /** Seconds since the run started, when it was reached. */
  atS?: number;
  /** How many members the transfer had. */
  members?: number;
  reached: boolean;
}

/** How long a forced fault waits for its point to be reached (a burst of submissions is sent for it). */
const FORCE_WITHIN_MS = 30_000;
/** Submissions sent at once when a fault is armed, so a transfer of several members forms. */
const FORCE_BURST = 24;

const exec = promisify(execFile);

/** A small seeded PRNG (mulberry32), so a run's fault moments can be repeated. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The file names of a party's process: `cz`, or `cz-r2` with several replicas. */
const tagOf = (party: PartyTag, replica: number, replicas: number) =>
  replicas === 1 ? party : `${party}-r${replica}`;

/**
 * The config files of each party's gateway processes: one config per party, except that each replica
 * has its own audit file (one writer per file) and admin port (docs/cluster.md, "The gateway replicas").
 */
function gatewayConfigs(
  replicas: number,
  dir: string,
  brokerUrl: string,
  peerUrl: string,
  redisUrls: Record<PartyTag, string>,
  queueType: 'classic' | 'quorum' = 'classic',
): Record<PartyTag, string[]> {
  const pair = configPair('chaos', { keysDir: dir });
  const files = (party: PartyTag): string[] => {
    const raw = pair[party];
    raw.amqp = { url: brokerUrl, heartbeatS: 5, confirmTimeoutMs: 5000, prefetch: 64, queueType };
    raw.peer.amqpUrl = peerUrl;
    raw.redis = { url: redisUrls[party] };
    raw.delivery = { receiptTimeoutMs: 5000, maxResends: 8, poisonAttempts: 5 };
    return Array.from({ length: replicas }, (_, i) => {
      const tag = tagOf(party, i + 1, replicas);
      const config = {
        ...raw,
        records: { ...raw.records, auditFile: join(dir, 'audit', `${tag}.jsonl`) },
        // 0 picks a free port, so replicas on one host do not collide.
        ...(raw.admin ? { admin: { ...raw.admin, port: 0 } } : {}),
      };
      const file = join(dir, `${tag}.json`);
      writeFileSync(file, JSON.stringify(config, null, 2));
      return file;
    });
  };
  return { cz: files('cz'), kz: files('kz') };
}

/** `accord audit verify` of one process's audit file: undefined when it verifies, else what it said. */
async function verifyAudit(cli: string, configFile: string): Promise<string | undefined> {
  const config = JSON.parse(readFileSync(configFile, 'utf8')) as { records: { auditFile: string } };
  try {
    await exec('node', [cli, 'audit', 'verify', '--config', configFile, '--file', config.records.auditFile], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    return undefined;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    return `${config.records.auditFile}: ${(e.stdout ?? '').trim() || (e.stderr ?? '').trim() || e.message}`;
  }
}

/** Resident memory of a gateway process, whole MB, or undefined when it does not run (now). */
function residentMb(pid: number | undefined): number | undefined {
  try {
    const mb = Math.round(rssMb(pid));
    return Number.isFinite(mb) ? mb : undefined;
  } catch {
    return undefined; // it exited between the check and the read
  }
}

/** How many jobs a BullMQ delayed set holds (the resend timers), 0 when it cannot be read. */
async function redisTimers(url: string, key: string): Promise<number> {
  const r = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return await r.zcard(key);
  } catch {
    return 0;
  } finally {
    r.disconnect();
  }
}

/** Sample memory, the outbox and the timers every 10 s for `seconds` (the link being cut meanwhile). */
async function sampleOutage(
  seconds: number,
  gateways: GatewayProcess[],
  probe: { outbox: () => Promise<number>; timers: () => Promise<number>; say: (s: string) => void },
): Promise<OutageFigures> {
  const rss: OutageFigures['rss_mb'] = {};
  let outboxMax = 0;
  let outboxLast: number;
  let timersMax = 0;
  const end = Date.now() + seconds * 1000;
  for (;;) {
    for (const g of gateways) {
      const mb = residentMb(g.pid);
      if (mb === undefined) continue;
      const r = rss[g.name];
      rss[g.name] =
        r === undefined
          ? { first: mb, min: mb, max: mb, last: mb }
          : { first: r.first, min: Math.min(r.min, mb), max: Math.max(r.max, mb), last: mb };
    }
    outboxLast = await probe.outbox();
    outboxMax = Math.max(outboxMax, outboxLast);
    const timers = await probe.timers();
    timersMax = Math.max(timersMax, timers);
    const memory = Object.entries(rss)
      .map(([name, r]) => `${name} ${r.last} MB`)
      .join(', ');
    probe.say(`outage: ${memory}; ${outboxLast} waiting on CZ's outbox; ${timers} resend timers`);
    if (Date.now() >= end) break;
    await sleep(Math.min(10_000, end - Date.now()));
  }
  return {
    seconds,
    rss_mb: rss,
    outbox_max: outboxMax,
    outbox_last: outboxLast,
    resend_timers_max: timersMax,
    drain_s: undefined,
  };
}

export async function runChaos(opts: ChaosOptions): Promise<ChaosResult> {
  const t0 = Date.now();
  const say = (s: string) => opts.say(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${s}`);
  const random = prng(opts.seed);
  const dir = mkdtempSync(join(tmpdir(), 'accord-chaos-'));
  // RabbitMQ runs as its own user and must reach its folder inside; the key copies stay 0600.
  chmodSync(dir, 0o755);
  const cluster = opts.cluster === undefined ? undefined : await ChaosCluster.create(dir, opts.cluster);
  const rabbit =
    cluster?.nodes[0] ?? new ChaosRabbit(join(dir, 'rabbitmq'), await freePort(), await freePort());
  const brokerPorts = cluster?.nodes.map((n) => n.port) ?? [rabbit.port];
  // With a cluster, the gateways and the suite's clients reach the nodes through a proxy that stands in
  // for the load balancer (docs/cluster.md); with one node, directly.
  const balancer = cluster === undefined ? undefined : new TcpProxy('127.0.0.1', brokerPorts);
  const redis = new ChaosRedis(join(dir, 'redis'), await freePort());
  // With redisLoss each party has a Redis of its own, so each loses its data at its own moment.
  const kzRedis = opts.redisLoss === true ? new ChaosRedis(join(dir, 'redis-kz'), await freePort()) : redis;
  const proxy = new TcpProxy('127.0.0.1', brokerPorts);
  const replicas = opts.replicas ?? 1;
  if (!Number.isInteger(replicas) || replicas < 1)
    throw new Error('replicas must be a whole number, 1 or more');
  const counts = { rabbitmq: 0, redis: 0, link_cuts: 0, redis_flushes: 0 };
  let cz: GatewayProcess[] = [];
  let kz: GatewayProcess[] = [];
  const kills: GatewayKill[] = [];
  const forced: ForcedFault[] = [];
  const faultsDir = join(dir, 'faults');
  mkdirSync(faultsDir);
  const conns: AmqpConnection[] = [];
  // Interrupted (Ctrl-C, a time limit): leave no broker, Redis or gateway running behind.
  const abort = () => {
    for (const g of [...cz, ...kz]) g.kill();
    redis.kill();
    kzRedis.kill();
    rabbit.kill();
    cluster?.kill();
    process.exit(130);
  };
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  try {
    say(`run directory ${dir}`);
    if (cluster === undefined) await rabbit.start();
    else {
      say(`starting a RabbitMQ cluster of ${cluster.nodes.length} nodes`);
      await cluster.start();
      await balancer!.start();
    }
    await redis.start();
    if (kzRedis !== redis) await kzRedis.start();
    await proxy.start();
    const brokerUrl = balancer?.url() ?? rabbit.url;
    say(
      `RabbitMQ on :${brokerPorts.join(', :')}${balancer ? ` (through a balancer on :${balancer.port})` : ''}, ` +
        `Redis on :${redis.port}${kzRedis !== redis ? ` (CZ) and :${kzRedis.port} (KZ)` : ''}, peer link through a proxy on :${proxy.port}`,
    );
    const cli = join(ROOT, 'dist', 'src', 'cli', 'main.js');
    // Both peer links (messages CZ→KZ, receipts KZ→CZ) go through the proxy; local links do not.
    const { cz: czFiles, kz: kzFiles } = gatewayConfigs(
      replicas,
      dir,
      brokerUrl,
      proxy.url(),
      { cz: redis.url, kz: kzRedis.url },
      cluster === undefined ? 'classic' : 'quorum',
    );
    const processes = (party: PartyTag, files: string[]) =>
      files.map((file, i) => {
        const tag = tagOf(party, i + 1, replicas);
        const name = replicas === 1 ? party.toUpperCase() : `${party.toUpperCase()} r${i + 1}`;
        return new GatewayProcess(name, cli, file, join(dir, `gateway-${tag}.log`), 1000, {
          [FAULTS_ENV]: faultsDir,
        });
      });
    cz = processes('cz', czFiles);
    kz = processes('kz', kzFiles);
    // Replica 1 of each party starts first, so it is likely the first delivered-log active consumer.
    for (const g of [...kz, ...cz]) {
      g.start();
      if (replicas > 1) await sleep(1000);
    }

    // The case systems: CZ submits, KZ's inbox and CZ's events are collected. They reconnect by themselves.
    const czNames = names('chaos-cz');
    const kzNames = names('chaos-kz');
    const client = async (name: string) => {
      for (;;) {
        try {
          const c = await AmqpConnection.open({
            broker: { url: brokerUrl, heartbeatS: 5 },
            name,
            confirmTimeoutMs: 5000,
          });
          conns.push(c);
          return c;
        } catch {
          await sleep(500);
        }
      }
    };
    const submitter = await client('chaos-submitter');
    const inboxReader = await client('chaos-kz-inbox');
    const eventReader = await client('chaos-cz-events');
    // Wait until both gateways have declared their queues.
    const declared = async () =>
      (await inboxReader.messageCount(kzNames.inbox('kz-mia'))) !== undefined &&
      (await inboxReader.messageCount(czNames.events('cz-pp-ipc'))) !== undefined &&
      (await inboxReader.messageCount(czNames.ingress)) !== undefined;
    const readyBy = Date.now() + 60_000;
    while (!(await declared())) {
      if (Date.now() > readyBy) throw new Error(`the gateways did not start; see the logs in ${dir}`);
      await sleep(200);
    }

    const deliveries = new Map<string, Set<string>>();
    const delivered = new Set<string>();
    const failed = new Set<string>();
    await inboxReader.consume(
      kzNames.inbox('kz-mia'),
      200,
      async (m) => {
        const id = String(m.properties.messageId ?? '');
        const token = String((m.properties.headers ?? {})[DELIVERY_HEADER] ?? 'none');
        const set = deliveries.get(id) ?? new Set<string>();
        set.add(token);
        deliveries.set(id, set);
        await Promise.resolve();
      },
      () => undefined,
    );
    await eventReader.consume(
      czNames.events('cz-pp-ipc'),
      200,
      async (m) => {
        const e = JSON.parse(m.content.toString('utf8')) as { type?: string; messageId?: string };
        if (e.type === 'delivered' && e.messageId) delivered.add(e.messageId);
        if (e.type === 'failed' && e.messageId) failed.add(e.messageId);
        await Promise.resolve();
      },
      () => undefined,
    );

    // Submissions, paced.
    const runId = `${opts.seed}-${Date.now().toString(36)}`;
    const template = JSON.parse(
      readFileSync(join(ROOT, 'examples', 'messages', 'travel-document.json'), 'utf8'),
    ) as Record<string, unknown>;
    const expected = new Set<string>();
    let submitted = 0;
    const base = Date.now();
    // At least once from the case system: retried until the broker confirms.
    const submit = async (key: string) => {
      const sub = { ...template, idempotencyKey: key, to: { party: 'KZ', authority: 'kz-mia' } };
      for (;;) {
        try {
          await publishSubmission(submitter, 'chaos-cz', Buffer.from(JSON.stringify(sub)));
          break;
        } catch {
          await sleep(300);
        }
      }
      expected.add(messageIdFor('CZ', 'cz-pp-ipc', key));
    };
    // A burst of messages on top of the paced ones, all at once: a forced fault needs a transfer of
    // several members, whether or not the paced submissions are still going.
    let bursts = 0;
    const burst = async () => {
      const k = bursts++;
      await Promise.all(
        Array.from({ length: FORCE_BURST }, (_, j) => submit(`chaos/${runId}/burst-${k}-${j}`)),
      );
    };
    const submitting = (async () => {
      const start = base;
      for (let i = 0; i < opts.messages; i++) {
        const due = start + (i * 1000) / opts.rate;
        if (due > Date.now()) await sleep(due - Date.now());
        await submit(`chaos/${runId}/${i}`);
        submitted++;
      }
    })();

    // Which process of a party is its delivered-log active consumer (rabbitmqctl, then `ss`): 'none'
    // while no process consumes it (all reconnecting), undefined when that cannot be told.
    const activeConsumer = async (
      party: GatewayProcess[],
      ns: string,
    ): Promise<GatewayProcess | 'none' | undefined> => {
      try {
        const port = await rabbit.activeConsumerPort(names(ns).deliveredLog);
        if (port === undefined) return 'none';
        const pid = await processOwningPort(port);
        return pid === undefined ? undefined : party.find((g) => g.pid === pid);
      } catch {
        return undefined;
      }
    };
    // Each kill takes the next replica in turn, so with several the kills land on different ones.
    let killNo = 0;
    const killGateway = async (party: GatewayProcess[], ns: string, target?: GatewayProcess) => {
      const victim = target ?? party[killNo % party.length]!;
      killNo++;
      // A kill while the gateway is still starting (after the fault before) would hit nothing.
      await victim.waitUp();
      const pid = victim.pid;
      const active = replicas === 1 ? victim : await activeConsumer(party, ns);
      const kill: GatewayKill = {
        gateway: victim.name,
        atS: Math.round((Date.now() - t0) / 100) / 10,
        activeConsumer: active === undefined ? undefined : active === victim,
      };
      kills.push(kill);
      const role =
        replicas === 1
          ? ''
          : active === undefined
            ? ' (delivered-log active consumer: could not be told)'
            : active === victim
              ? ' (the delivered-log active consumer)'
              : active === 'none'
                ? ' (no process of the party consumed the delivered-log at that moment)'
                : ` (not the delivered-log active consumer, ${active.name} is)`;
      say(`fault: gateway ${victim.name} killed (SIGKILL)${role}`);
      victim.kill();
      if (pid !== undefined) await victim.replaced(pid);
    };

    /**
     * Force a fault at a point inside a transfer: arm every process of the party (src/faults.ts), send a
     * burst of submissions so a transfer of several members forms, and wait for one to reach the point.
     * A `kill` ends there (the process kills itself, its supervisor restarts it); a `hold` kills and
     * restarts RabbitMQ while the process waits at the point, then lets it go on.
     */
    const force = async (party: GatewayProcess[], point: FaultPoint, action: 'kill' | 'hold') => {
      const fault: ForcedFault = { point, action, reached: false };
      forced.push(fault);
      say(`fault: ${action === 'kill' ? 'kill' : 'hold'} a gateway at ${point}, in a transfer of 2 or more`);
      const armed = new Map<GatewayProcess, number>();
      for (const g of party) {
        await g.waitUp();
        const pid = g.pid;
        if (pid === undefined) continue;
        writeFileSync(faultFiles(faultsDir, pid).arm, JSON.stringify({ point, action, minMembers: 2 }));
        armed.set(g, pid);
      }
      const sending = [burst()];
      let hit: { g: GatewayProcess; pid: number; members: number } | undefined;
      const by = Date.now() + FORCE_WITHIN_MS;
      for (let again = by - FORCE_WITHIN_MS / 2; hit === undefined && Date.now() < by;) {
        await sleep(50);
        for (const [g, pid] of armed) {
          const file = faultFiles(faultsDir, pid).hit;
          if (!existsSync(file)) continue;
          const seen = JSON.parse(readFileSync(file, 'utf8')) as { members: number };
          hit = { g, pid, members: seen.members };
          rmSync(file, { force: true });
          break;
        }
        if (hit === undefined && Date.now() >= again) {
          again = Infinity; // one more burst halfway, in case the first went out in transfers of one
          sending.push(burst());
        }
      }
      await Promise.all(sending);
      for (const [, pid] of armed) rmSync(faultFiles(faultsDir, pid).arm, { force: true });
      if (hit === undefined) {
        say(`fault: ${point} not reached within ${FORCE_WITHIN_MS / 1000} s`);
        return;
      }
      Object.assign(fault, {
        reached: true,
        gateway: hit.g.name,
        atS: Math.round((Date.now() - t0) / 100) / 10,
        members: hit.members,
      });
      if (action === 'kill') {
        say(`fault: gateway ${hit.g.name} killed itself at ${point}, in a transfer of ${hit.members}`);
        await hit.g.replaced(hit.pid);
        return;
      }
      say(
        `fault: gateway ${hit.g.name} held at ${point} (a transfer of ${hit.members}); RabbitMQ killed and restarted`,
      );
      await rabbit.restart();
      counts.rabbitmq++;
      writeFileSync(faultFiles(faultsDir, hit.pid).release, '');
    };

    // Faults, at jittered moments across the submission window.
    const windowMs = (opts.messages / opts.rate) * 1000;
    const at = (fraction: number) => base + windowMs * (fraction + (random() - 0.5) * 0.08);
    const until = async (ts: number) => {
      if (ts > Date.now()) await sleep(ts - Date.now());
    };
    let outage: OutageFigures | undefined;
    let linkBackAt: number | undefined;
    const mixedFaults = async () => {
      await until(at(0.12));
      say('fault: RabbitMQ killed (SIGKILL) and restarted');
      await rabbit.restart();
      counts.rabbitmq++;
      await until(at(0.2));
      await force(cz, 'transfer-send:stored', 'kill');
      await until(at(0.28));
      await killGateway(cz, 'chaos-cz');
      await until(at(0.33));
      await force(cz, 'transfer-send:published', 'kill');
      await until(at(0.38));
      say('fault: Redis killed (SIGKILL) and restarted');
      redis.kill();
      await sleep(1000);
      await redis.restart();
      counts.redis++;
      await until(at(0.48));
      say(`fault: link between the gateways cut for ${opts.linkCutS} s`);
      proxy.cut();
      counts.link_cuts++;
      await sleep(opts.linkCutS * 1000);
      proxy.restore();
      say('link restored');
      await until(at(0.55));
      await force(kz, 'transfer-intake:members', 'kill');
      await until(at(0.62));
      await killGateway(kz, 'chaos-kz');
      await until(at(0.7));
      await force(kz, 'transfer-intake:members', 'hold');
      await until(at(0.75));
      await force(kz, 'transfer-intake:committed', 'kill');
      await until(at(0.8));
      say('fault: RabbitMQ killed (SIGKILL) and restarted, again');
      await rabbit.restart();
      counts.rabbitmq++;
      if (replicas > 1) {
        // Copies of the transactions the broker lost come back now and wait on the delivered-log
        // barrier: take its active consumer away once a replica has become it again (replica 1 when
        // that cannot be told within 30 s).
        let active: GatewayProcess | 'none' | undefined;
        for (const by = Date.now() + 30_000; !(active instanceof GatewayProcess) && Date.now() < by;) {
          await sleep(1000);
          active = await activeConsumer(kz, 'chaos-kz');
        }
        await killGateway(kz, 'chaos-kz', active instanceof GatewayProcess ? active : kz[0]);
      }
    };
    const longOutage = async (seconds: number) => {
      await sleep(10_000);
      say(`fault: link between the gateways cut for ${seconds} s, submissions going on`);
      proxy.cut();
      counts.link_cuts++;
      outage = await sampleOutage(seconds, [...cz, ...kz], {
        outbox: async () => (await inboxReader.messageCount(czNames.outbox)) ?? 0,
        timers: () => redisTimers(redis.url, `${czNames.redisPrefix}bull:receipts:delayed`),
        say,
      });
      proxy.restore();
      linkBackAt = Date.now();
      say('link restored');
    };
    // A cluster: the node leading KZ's ingress queue dies, comes back, then another node does.
    const nodeFaults = async (c: ChaosCluster) => {
      const killed: ChaosRabbit[] = [];
      for (const fraction of [0.2, 0.6]) {
        await until(at(fraction));
        const leader = await c.leaderOf(kzNames.ingress);
        const victim =
          leader !== undefined && !killed.includes(leader)
            ? leader
            : (c.nodes.find((n) => !killed.includes(n)) ?? c.nodes[0]!);
        const role = victim === leader ? "the leader of KZ's ingress" : 'not a leader of it';
        say(`fault: RabbitMQ node ${victim.nodename} killed (SIGKILL), ${role}`);
        victim.kill();
        counts.rabbitmq++;
        killed.push(victim);
        await sleep(15_000);
        await victim.start();
        say(`RabbitMQ node ${victim.nodename} back`);
      }
    };
    const flushall = async (party: string, url: string) => {
      const r = new Redis(url, { maxRetriesPerRequest: 3 });
      r.on('error', () => undefined);
      try {
        await r.flushall();
      } finally {
        r.disconnect();
      }
      counts.redis_flushes++;
      say(`fault: ${party}'s Redis lost its data (FLUSHALL)`);
    };
    // Redis loses its data: CZ's while receipts are awaited, KZ's in the middle of a link cut (its
    // receipts of the messages it delivered just before the cut were lost, so CZ resends them after).
    const redisLoss = async () => {
      await until(at(0.25));
      await flushall('CZ', redis.url);
      await until(at(0.5));
      say(`fault: link between the gateways cut for ${opts.linkCutS} s`);
      proxy.cut();
      counts.link_cuts++;
      await sleep((opts.linkCutS * 1000) / 2);
      await flushall('KZ', kzRedis.url);
      await sleep((opts.linkCutS * 1000) / 2);
      proxy.restore();
      say('link restored');
    };
    const faults =
      cluster !== undefined
        ? nodeFaults(cluster)
        : opts.redisLoss === true
          ? redisLoss()
          : opts.outageS === undefined
            ? mixedFaults()
            : longOutage(opts.outageS);

    // Progress until everything is accounted for, or nothing moves for quietS after the last fault.
    let last = -1;
    let lastChange = Date.now();
    let faultsDone = false;
    void faults.then(() => {
      faultsDone = true;
      lastChange = Date.now();
    });
    let submitDone = false;
    void submitting.then(() => (submitDone = true));
    for (;;) {
      await sleep(1000);
      const got = [...expected].filter((id) => deliveries.has(id)).length;
      const receipts = [...expected].filter((id) => delivered.has(id)).length;
      const progress = got + receipts;
      if (progress !== last) {
        last = progress;
        lastChange = Date.now();
      }
      if (Math.round((Date.now() - t0) / 1000) % 5 === 0) {
        say(
          `submitted ${submitted}/${opts.messages} (and ${bursts * FORCE_BURST} in bursts), in the KZ inbox ${got}, receipts at CZ ${receipts}`,
        );
      }
      if (submitDone && faultsDone && got === expected.size && receipts === expected.size) {
        if (outage !== undefined && linkBackAt !== undefined) {
          outage.drain_s = Math.round((Date.now() - linkBackAt) / 1000);
        }
        break;
      }
      if (faultsDone && submitDone && Date.now() - lastChange > opts.quietS * 1000) {
        say(`nothing moved for ${opts.quietS} s; reconciling what is there`);
        break;
      }
    }
    await faults;
    await submitting;
    await sleep(2000); // late duplicates, if any, would arrive now

    const dlqCount = async (queue: string) => (await inboxReader.messageCount(queue)) ?? 0;
    const deadLetters = (await dlqCount(czNames.dlq)) + (await dlqCount(kzNames.dlq));
    const deliveredIds = [...deliveries.keys()];

    // Every process's audit chain, once no process writes it.
    for (const g of [...cz, ...kz]) await g.stop();
    const auditFailures: string[] = [];
    for (const file of [...czFiles, ...kzFiles]) {
      const failure = await verifyAudit(cli, file);
      if (failure !== undefined) auditFailures.push(failure);
    }
    const restartsOf = (party: GatewayProcess[]) => party.reduce((n, g) => n + g.restarts, 0);
    const lossAlerts = [...cz, ...kz].reduce((n, g) => n + g.logLines('"alert":"alert.redis_lost"'), 0);
    const result: ChaosResult = {
      sent: expected.size,
      delivered: deliveredIds.filter((id) => expected.has(id)).length,
      lost: [...expected].filter((id) => !deliveries.has(id) && !failed.has(id)).length,
      duplicated: [...deliveries.values()].filter((tokens) => tokens.size > 1).length,
      unexpected: deliveredIds.filter((id) => !expected.has(id)).length,
      receipt_gaps: [...expected].filter((id) => deliveries.has(id) && !delivered.has(id)).length,
      failed: failed.size,
      dead_letters: deadLetters,
      replicas,
      restarts: { ...counts, gateway_cz: restartsOf(cz), gateway_kz: restartsOf(kz) },
      redis_loss_alerts: lossAlerts,
      kills,
      forced,
      burst_messages: bursts * FORCE_BURST,
      audit: {
        files: czFiles.length + kzFiles.length,
        verified: czFiles.length + kzFiles.length - auditFailures.length,
        failures: auditFailures,
      },
      seconds: Math.round((Date.now() - t0) / 1000),
      dir,
      examples: {
        lost: [...expected].filter((id) => !deliveries.has(id) && !failed.has(id)).slice(0, 5),
        duplicated: [...deliveries]
          .filter(([, t]) => t.size > 1)
          .map(([id]) => id)
          .slice(0, 5),
        receipt_gaps: [...expected].filter((id) => deliveries.has(id) && !delivered.has(id)).slice(0, 5),
      },
      ...(outage === undefined ? {} : { outage }),
    };
    return result;
  } finally {
    process.removeListener('SIGINT', abort);
    process.removeListener('SIGTERM', abort);
    for (const c of conns) await c.close();
    for (const g of [...cz, ...kz]) await g.stop();
    await proxy.close();
    await balancer?.close();
    redis.kill();
    kzRedis.kill();
    rabbit.kill();
    cluster?.kill();
    if (opts.removeDir === true) rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  }
}

/** The table and the JSON line. */
export function report(r: ChaosResult): string {
  const rows: [string, number | string][] = [
    ['sent', r.sent],
    ['delivered', r.delivered],
    ['lost', r.lost],
    ['duplicated', r.duplicated],
    ['unexpected', r.unexpected],
    ['receipt gaps', r.receipt_gaps],
    ['failed (reported to the sender)', r.failed],
    ['dead letters', r.dead_letters],
    ['gateway processes per party', r.replicas],
    ['audit files verified', `${r.audit.verified}/${r.audit.files}`],
    ['RabbitMQ restarts', r.restarts.rabbitmq],
    ['Redis restarts', r.restarts.redis],
    ['gateway CZ restarts', r.restarts.gateway_cz],
    ['gateway KZ restarts', r.restarts.gateway_kz],
    ['link cuts', r.restarts.link_cuts],
    ...(r.restarts.redis_flushes > 0
      ? ([
          ['Redis data lost (FLUSHALL)', r.restarts.redis_flushes],
          ['alert.redis_lost raised', r.redis_loss_alerts],
        ] as [string, number][])
      : []),
    ['seconds', r.seconds],
  ];
  const table = rows.map(([k, v]) => `  ${k.padEnd(34)} ${String(v).padStart(8)}`).join('\n');
  const json = JSON.stringify({
    sent: r.sent,
    delivered: r.delivered,
    lost: r.lost,
    duplicated: r.duplicated,
    unexpected: r.unexpected,
    receipt_gaps: r.receipt_gaps,
    audit_failures: r.audit.failures.length,
    replicas: r.replicas,
    ...(r.forced.length > 0
      ? { forced_reached: `${r.forced.filter((f) => f.reached).length}/${r.forced.length}` }
      : {}),
    ...(r.restarts.redis_flushes > 0
      ? { redis_flushes: r.restarts.redis_flushes, redis_loss_alerts: r.redis_loss_alerts }
      : {}),
    ...(r.outage === undefined ? {} : { outage: r.outage }),
  });
  const active = (k: GatewayKill) =>
    r.replicas === 1 || k.activeConsumer === false
      ? ''
      : k.activeConsumer
        ? ' (delivered-log active consumer)'
        : ' (delivered-log active consumer: unknown)';
  const kills = `  gateway kills: ${r.kills.map((k) => `${k.gateway} at ${k.atS} s${active(k)}`).join(', ')}`;
  const forced = `  faults forced inside a transfer: ${r.forced
    .map((f) =>
      f.reached
        ? `${f.action} ${f.gateway} at ${f.point} (${f.members} members, ${f.atS} s)`
        : `${f.action} at ${f.point} NOT reached`,
    )
    .join(', ')}`;
  const gaps = Object.entries(r.examples)
    .filter(([, ids]) => ids.length > 0)
    .map(([k, ids]) => `  ${k}: ${ids.join(' ')}`)
    .join('\n');
  const audit = r.audit.failures.map((f) => `  audit: ${f}`).join('\n');
  const o = r.outage;
  const outage =
    o === undefined
      ? ''
      : [
          `  peer outage of ${o.seconds} s:`,
          ...Object.entries(o.rss_mb).map(
            ([g, m]) =>
              `    ${g} memory: ${m.first} MB at the cut, ${m.min}–${m.max} MB during it, ${m.last} MB at the end`,
          ),
          `    CZ outbox (waiting in the broker): up to ${o.outbox_max}, ${o.outbox_last} when the link came back`,
          `    CZ resend timers: at most ${o.resend_timers_max}`,
          `    backlog delivered and receipted ${o.drain_s === undefined ? '(not within the run)' : `${o.drain_s} s`} after the link came back`,
        ].join('\n');
  return [
    table,
    r.kills.length > 0 ? kills : '',
    r.forced.length > 0 ? forced : '',
    outage,
    gaps,
    audit,
    json,
  ]
    .filter((l) => l.length > 0)
    .join('\n');
}

/** Whether the run kept Accord's promise. */
export function passed(r: ChaosResult): boolean {
  return (
    r.lost === 0 &&
    r.duplicated === 0 &&
    r.unexpected === 0 &&
    r.receipt_gaps === 0 &&
    r.audit.failures.length === 0 &&
    // A forced fault that was never reached tested nothing: the run does not count as passed.
    r.forced.every((f) => f.reached)
  );
}
