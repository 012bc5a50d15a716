/**
 * Redis loses its data (FLUSHALL, an older snapshot restored) under a running pair: the gateway
 * rebuilds de-duplication and sent records from its audit records before it takes deliveries again
 * (src/jobs/redis-loss.ts), so a resend of a message delivered before the loss is answered, not
 * delivered twice, and a receipt that comes after it is still reported. Each party has a private
 * redis-server here, so FLUSHALL touches nothing of other tests.
 */
import { RedisMessageState } from '../src/store/redis-state.js';
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import type { SubmissionInput } from '../src/client/index.js';
import { names, type Config } from '../src/config.js';
import { Gateway } from '../src/gateway.js';
import { freePort } from '../scripts/chaos/services.js';
import { OwnRedis } from './helpers/own-redis.js';
import {
  authority,
  eventually,
  example,
  memoryLogger,
  pairConfigs,
  publishRaw,
  removeNamespace,
  uniqueStem,
  type TestAuthority,
} from './helpers/harness.js';

describe('Redis loses its data', function () {
  this.timeout(90_000);
  const servers: OwnRedis[] = [];
  const ports: Record<string, number> = {};
  let czConfig: Config;
  let kzConfig: Config;
  let cz: Gateway;
  let kz: Gateway | undefined;
  let czRedis: Redis;
  let kzRedis: Redis;
  let ipc: TestAuthority;
  let mia: TestAuthority;
  const { log, lines } = memoryLogger();

  before(async () => {
    for (const party of ['CZ', 'KZ']) {
      const port = await freePort();
      const server = OwnRedis.start(
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--save',
          '',
          '--appendonly',
          'no',
          '--maxmemory-policy',
          'noeviction',
        ],
        port,
        '/dev/null',
        `${party}'s own Redis`,
      );
      servers.push(server);
      await server.ready(async (r) => ((await r.ping()) === 'PONG' ? true : undefined));
      ports[party] = port;
    }
    ({ cz: czConfig, kz: kzConfig } = pairConfigs(uniqueStem(), (raw) => {
      raw.redis = { url: `redis://127.0.0.1:${ports[raw.party as string]}` };
    }));
    czRedis = new Redis(czConfig.redis.url);
    kzRedis = new Redis(kzConfig.redis.url);
    cz = await Gateway.start(czConfig, log.child({ gw: 'CZ' }));
    kz = await Gateway.start(kzConfig, log.child({ gw: 'KZ' }));
    ipc = await authority(czConfig, 'cz-pp-ipc');
    mia = await authority(kzConfig, 'kz-mia');
  });

  after(async () => {
    await ipc?.client.close();
    await mia?.client.close();
    await cz?.stop();
    await kz?.stop();
    czRedis?.disconnect();
    kzRedis?.disconnect();
    for (const s of servers) await s.stop();
    if (czConfig) await removeNamespace(czConfig);
    if (kzConfig) await removeNamespace(kzConfig);
  });

  const submit = async (key: string): Promise<string> =>
    (
      await ipc.client.submit({
        ...example('request', key),
        from: 'cz-pp-ipc',
        to: { party: 'KZ', authority: 'kz-mia' },
      } as SubmissionInput)
    ).messageId;
  const deliveredAtCz = (id: string) =>
    ipc.events.waitFor((e) => e.type === 'delivered' && e.messageId === id, 30_000, `delivered ${id}`);
  const deliveredAtKz = (id: string) =>
    mia.inbox.waitFor((d) => d.envelope.id === id, 30_000, `the delivery of ${id}`);
  const inboxCount = (id: string) => mia.inbox.items.filter((d) => d.envelope.id === id).length;
  /** The sealed bytes CZ stored for a message (what a resend publishes: its JWE, or its transfer). */
  const sealedAtCz = async (id: string): Promise<Buffer> => {
    const state = new RedisMessageState(czRedis, names(czConfig.namespace).redisPrefix);
    const copy = await state.sealedCopy((await state.getSent(id))!);
    return Buffer.from(copy!.jwe, 'latin1');
  };
  /** The resend is answered: KZ logged it as a duplicate, and delivered nothing. */
  const answeredAsDuplicate = (id: string) =>
    eventually(
      () =>
        Promise.resolve(
          lines.some((l) => l.includes('duplicate; receipt sent again') && l.includes(id)) ? true : undefined,
        ),
      30_000,
      `KZ to answer the resend of ${id} as a duplicate`,
    );
  const kzIngress = () => names(kzConfig.namespace).ingress;

  it('after FLUSHALL, a resend of a message delivered before is answered, not delivered again; new traffic flows', async () => {
    const id = await submit('loss-flushall-1');
    await deliveredAtKz(id);
    await deliveredAtCz(id);
    const jwe = await sealedAtCz(id);
    await kzRedis.flushall();
    // The same sealed message again, as CZ's receipt timer would resend it.
    await publishRaw(kzIngress(), jwe);
    await answeredAsDuplicate(id);
    const after = await submit('loss-flushall-2');
    await deliveredAtKz(after);
    await deliveredAtCz(after);
    expect(inboxCount(id)).to.equal(1);
    expect(inboxCount(after)).to.equal(1);
    expect(lines.some((l) => l.includes('"alert":"alert.redis_lost"') && l.includes('"gw":"KZ"'))).to.equal(
      true,
    );
  });

  it('after an older snapshot is restored, a resend of a message delivered since the snapshot is not delivered again', async () => {
    const prefix = names(kzConfig.namespace).redisPrefix;
    // The generation marker (src/store/redis-generation.ts).
    const marker = `${prefix}generation`;
    const auditLines = () => readFileSync(kzConfig.records.auditFile!, 'utf8').split('\n').length - 1;
    const before = await submit('loss-restore-1');
    await deliveredAtKz(before);
    await deliveredAtCz(before);
    // The snapshot: every key, once the marker covers the records written so far.
    const covered = auditLines();
    await eventually(
      async () => {
        // (A gateway without the marker, before this change, has nothing to wait for.)
        const fields = Object.values(await kzRedis.hgetall(marker)).map(Number);
        return fields.length === 0 || fields.some((n) => n >= covered) ? true : undefined;
      },
      30_000,
      'the marker to cover the records so far',
    );
    const snapshot = new Set(await kzRedis.keys(`${prefix}*`));
    const markerThen = await kzRedis.hgetall(marker);
    const id = await submit('loss-restore-2');
    await deliveredAtKz(id);
    await deliveredAtCz(id);
    const jwe = await sealedAtCz(id);
    // The restore: what was written since the snapshot is gone, the marker is as it was then.
    await kzRedis.del(...(await kzRedis.keys(`${prefix}*`)).filter((k) => !snapshot.has(k)));
    await kzRedis.hset(marker, markerThen);
    await publishRaw(kzIngress(), jwe);
    await answeredAsDuplicate(id);
    expect(inboxCount(id)).to.equal(1);
  });

  it('after FLUSHALL at the sender while a receipt is awaited, the receipt is still reported, the message delivered once', async () => {
    const kzAlerts = () =>
      lines.filter((l) => l.includes('"alert":"alert.redis_lost"') && l.includes('"gw":"KZ"')).length;
    const kzAlertsBefore = kzAlerts();
    // KZ stops: what CZ sends waits in KZ's ingress, its receipt awaited.
    await kz!.stop();
    kz = undefined;
    const id = await submit('loss-sender-1');
    await ipc.events.waitFor((e) => e.type === 'sent' && e.messageId === id, 30_000, 'sent');
    await czRedis.flushall();
    kz = await Gateway.start(kzConfig, log.child({ gw: 'KZ' }));
    await deliveredAtKz(id);
    await deliveredAtCz(id);
    const after = await submit('loss-sender-2');
    await deliveredAtKz(after);
    await deliveredAtCz(after);
    expect(inboxCount(id)).to.equal(1);
    expect(lines.some((l) => l.includes('"alert":"alert.redis_lost"') && l.includes('"gw":"CZ"'))).to.equal(
      true,
    );
    // KZ's restart on its intact Redis is not taken for a loss.
    expect(kzAlerts()).to.equal(kzAlertsBefore);
  });

  it('after FLUSHALL while the gateway was stopped, it rebuilds before it consumes: a resend is not delivered again', async () => {
    const kzAlerts = () =>
      lines.filter((l) => l.includes('"alert":"alert.redis_lost"') && l.includes('"gw":"KZ"')).length;
    const before = kzAlerts();
    const id = await submit('loss-stopped-1');
    await deliveredAtKz(id);
    await deliveredAtCz(id);
    const jwe = await sealedAtCz(id);
    await kz!.stop();
    kz = undefined;
    await kzRedis.flushall();
    // The resend waits in KZ's ingress while KZ is down.
    await publishRaw(kzIngress(), jwe);
    kz = await Gateway.start(kzConfig, log.child({ gw: 'KZ' }));
    await answeredAsDuplicate(id);
    expect(inboxCount(id)).to.equal(1);
    expect(kzAlerts()).to.equal(before + 1);
  });

  it('the first start on a Redis used before the marker existed checks the records quietly, without an alert', async () => {
    const alerts = () => lines.filter((l) => l.includes('"alert":"alert.redis_lost"')).length;
    const before = alerts();
    await kz!.stop();
    kz = undefined;
    // A version without the marker: the rest of the namespace is there, the marker is not.
    await kzRedis.del(`${names(kzConfig.namespace).redisPrefix}generation`);
    kz = await Gateway.start(kzConfig, log.child({ gw: 'KZ' }));
    const id = await submit('loss-upgrade-1');
    await deliveredAtKz(id);
    await deliveredAtCz(id);
    expect(lines.some((l) => l.includes('generation marker renewed; nothing recent was missing'))).to.equal(
      true,
    );
    expect(alerts()).to.equal(before);
  });
});
