/**
 * docs/cluster.md, "Redis with Sentinel": a real failover. A primary, one replica and three Sentinels of
 * this test's own run on free ports; both gateways find Redis through the Sentinels. While CZ sends to
 * KZ, the primary is killed (SIGKILL); the Sentinels promote the replica and the gateways follow it.
 * Nothing may be lost or delivered twice. The test prints the failover window and what it cost.
 */
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { SubmissionInput } from '../src/client/index.js';
import { freePort } from '../scripts/chaos/services.js';
import { OwnRedis } from './helpers/own-redis.js';
import { example, startPair, type Pair } from './helpers/harness.js';

const GROUP = 'accord-failover';
const MESSAGES = 150;
const KILL_AFTER = 50;

/** Where the Sentinels say the primary is, as `host:port`. */
async function primaryOf(sentinelPort: number): Promise<string | undefined> {
  const r = new Redis({
    port: sentinelPort,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  r.on('error', () => undefined);
  try {
    await r.connect();
    const addr = (await r.call('SENTINEL', 'get-master-addr-by-name', GROUP)) as string[] | null;
    return addr === null ? undefined : `${addr[0]}:${addr[1]}`;
  } catch {
    return undefined;
  } finally {
    r.disconnect();
  }
}

/** When the Sentinels first name another primary than `before` (watched from now on). */
async function promotion(before: string | undefined, sentinelPort: () => number): Promise<number> {
  const by = Date.now() + 60_000;
  for (;;) {
    const now = await primaryOf(sentinelPort());
    if (now !== undefined && now !== before) return Date.now();
    if (Date.now() > by) throw new Error('the Sentinels did not promote the replica');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('Redis failover under traffic (Sentinel, one replica)', function () {
  this.timeout(180_000);
  let dir: string;
  let primary: OwnRedis;
  let replica: OwnRedis;
  const sentinels: OwnRedis[] = [];
  let pair: Pair | undefined;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'accord-failover-'));
    const redisArgs = (name: string, port: number) => {
      mkdirSync(join(dir, name));
      return [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        join(dir, name),
        '--save',
        '',
        '--appendonly',
        'yes',
        '--logfile',
        join(dir, `${name}.log`),
      ];
    };
    const primaryPort = await freePort();
    primary = OwnRedis.start(
      redisArgs('primary', primaryPort),
      primaryPort,
      join(dir, 'primary.log'),
      'the primary',
    );
    await primary.ready(async (r) => ((await r.ping()) === 'PONG' ? true : undefined));
    const replicaPort = await freePort();
    replica = OwnRedis.start(
      [...redisArgs('replica', replicaPort), '--replicaof', '127.0.0.1', String(primaryPort)],
      replicaPort,
      join(dir, 'replica.log'),
      'the replica',
    );
    await replica.ready(async (r) =>
      (await r.info('replication')).includes('master_link_status:up') ? true : undefined,
    );
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const conf = join(dir, `sentinel-${i}.conf`);
      writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `logfile ${join(dir, `sentinel-${i}.log`)}`,
          `sentinel monitor ${GROUP} 127.0.0.1 ${primaryPort} 2`,
          `sentinel down-after-milliseconds ${GROUP} 1000`,
          `sentinel failover-timeout ${GROUP} 10000`,
          `sentinel parallel-syncs ${GROUP} 1`,
          '',
        ].join('\n'),
      );
      sentinels.push(
        OwnRedis.start([conf, '--sentinel'], port, join(dir, `sentinel-${i}.log`), `Sentinel ${i}`),
      );
    }
    // Each Sentinel knows the replica and the two others before the test begins.
    for (const s of sentinels) {
      await s.ready(async (r) => {
        const others = (await r.call('SENTINEL', 'sentinels', GROUP)) as unknown[];
        const replicas = (await r.call('SENTINEL', 'replicas', GROUP)) as unknown[];
        return others.length === 2 && replicas.length === 1 ? true : undefined;
      }, 30_000);
    }
  });

  after(async () => {
    await pair?.close();
    for (const s of sentinels) await s.stop();
    await replica?.stop();
    await primary?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loses nothing and delivers nothing twice when the primary dies, and follows the promoted replica', async () => {
    const nodes = sentinels.map((s) => `127.0.0.1:${s.port}`);
    pair = await startPair((raw) => {
      raw.redis = { url: 'redis://unused-by-sentinel.invalid:1', sentinel: { name: GROUP, nodes } };
    });
    const czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
    const kzMia = await pair.authority(pair.kzConfig, 'kz-mia');
    const before = await primaryOf(sentinels[0]!.port);

    // The longest stretch without a new delivery at KZ: the window the failover cost.
    let lastCount = 0;
    let lastGrowth = Date.now();
    let longestStall = 0;
    const sampler = setInterval(() => {
      const n = kzMia.inbox.items.length;
      if (n !== lastCount) {
        longestStall = Math.max(longestStall, Date.now() - lastGrowth);
        lastCount = n;
        lastGrowth = Date.now();
      }
    }, 50);
    const ids: string[] = [];
    let killedAt = 0;
    let promoted: Promise<number> = Promise.resolve(0);
    for (let i = 0; i < MESSAGES; i++) {
      if (i === KILL_AFTER) {
        killedAt = Date.now();
        primary.kill();
        promoted = promotion(before, () => sentinels[0]!.port);
      }
      const sub = example('request', `failover-${i}`) as SubmissionInput;
      ids.push((await czIpc.client.submit(sub)).messageId);
      await new Promise((r) => setTimeout(r, 30));
    }
    const promotedAt = await promoted;
    for (const id of ids) {
      await kzMia.inbox.waitFor((d) => d.envelope.id === id, 90_000, `delivery of ${id}`);
      await czIpc.events.waitFor(
        (e) => e.type === 'delivered' && e.messageId === id,
        90_000,
        `receipt of ${id}`,
      );
    }
    const doneAt = Date.now();
    clearInterval(sampler);
    // Late duplicates, if any, would come now.
    await new Promise((r) => setTimeout(r, 3000));
    const deliveries = ids.map((id) => kzMia.inbox.items.filter((d) => d.envelope.id === id).length);
    expect(
      deliveries.filter((n) => n === 0),
      'lost',
    ).to.have.length(0);
    expect(
      deliveries.filter((n) => n > 1),
      'delivered twice',
    ).to.have.length(0);
    expect(await primaryOf(sentinels[0]!.port)).to.equal(`127.0.0.1:${replica.port}`);

    const resends = pair.lines.filter((l) =>
      l.includes('no receipt yet; resent the same sealed message'),
    ).length;
    const waits = pair.lines.filter((l) =>
      l.includes('infrastructure unavailable; the message waits'),
    ).length;
    const parked = pair.lines.filter((l) => l.includes('delivery.poison')).length;
    expect(parked, 'parked as poison').to.equal(0);
    // The figures for docs/cluster.md.
    console.log(
      `      failover: primary killed after ${KILL_AFTER}/${MESSAGES} submissions; replica promoted ` +
        `${((promotedAt - killedAt) / 1000).toFixed(1)} s later; all ${MESSAGES} delivered once ` +
        `${((doneAt - killedAt) / 1000).toFixed(1)} s after the kill; longest stretch without a delivery ` +
        `${(longestStall / 1000).toFixed(1)} s; ` +
        `${resends} resends, ${waits} deliveries waited on Redis and were retried, 0 parked`,
    );
  });
});
