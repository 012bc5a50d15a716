/**
 * `redis.sentinel`: the gateway finds its Redis primary through Sentinel. A Sentinel process of this
 * test's own (`redis-server --sentinel`, on a free port) watches the machine's Redis, and a second
 * Redis of its own that evicts keys; nothing is mocked.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { SubmissionInput } from '../src/client/index.js';
import { checkConfigData, names } from '../src/config.js';
import { TEST_ONLY_IDENTIFIER_KEY } from '../src/demo/config-pair.js';
import { Gateway } from '../src/gateway.js';
import {
  IGNORE_REDIS_ERRORS,
  describeRedis,
  redisConnection,
  sentinelOptions,
} from '../src/store/redis-connect.js';
import { freePort } from '../scripts/chaos/services.js';
import { OwnRedis } from './helpers/own-redis.js';
import {
  REDIS_URL,
  ROOT,
  example,
  memoryLogger,
  pairConfigs,
  startPair,
  uniqueStem,
  type Pair,
} from './helpers/harness.js';

/** The machine's Redis, as the tests reach it. */
const main = new URL(REDIS_URL);
const MAIN_HOST = main.hostname.replace(/^\[(.*)\]$/, '$1');
const MAIN_PORT = Number(main.port || 6379);

/** `REDIS_URL` with its host and port replaced by a name that resolves nowhere: Sentinel mode must not use them. */
function urlWithUnusedHost(base: string, db?: number): string {
  const u = new URL(base);
  u.hostname = 'unused-by-sentinel.invalid';
  u.port = '1';
  if (db !== undefined) u.pathname = `/${db}`;
  return u.toString();
}

describe('store/redis-connect: Redis through Sentinel', function () {
  this.timeout(60_000);
  const suffix = randomBytes(4).toString('hex');
  /** The group the Sentinel watches: the machine's Redis, where the tests' namespaces live. */
  const GROUP = `accord-test-${suffix}`;
  /** A second group: a Redis of this test's own whose maxmemory-policy evicts keys. */
  const EVICTING = `accord-evicting-${suffix}`;
  let dir: string | undefined;
  let evicting: OwnRedis | undefined;
  let sentinel: OwnRedis | undefined;
  let sentinelPort = 0;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'accord-sentinel-'));
    const evictingPort = await freePort();
    evicting = OwnRedis.start(
      [
        '--port',
        String(evictingPort),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'no',
        '--maxmemory-policy',
        'allkeys-lru',
        '--logfile',
        join(dir, 'evicting.log'),
      ],
      evictingPort,
      join(dir, 'evicting.log'),
      'the evicting Redis',
    );
    await evicting.ready(async (r) => ((await r.ping()) === 'PONG' ? true : undefined));

    sentinelPort = await freePort();
    const conf = [
      `port ${sentinelPort}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `logfile ${join(dir, 'sentinel.log')}`,
      // Only needed when the tests' Redis is named by a host name (Redis 6.2+).
      ...(isIP(MAIN_HOST) === 0 ? ['sentinel resolve-hostnames yes'] : []),
      `sentinel monitor ${GROUP} ${MAIN_HOST} ${MAIN_PORT} 1`,
      ...(main.username ? [`sentinel auth-user ${GROUP} ${decodeURIComponent(main.username)}`] : []),
      ...(main.password ? [`sentinel auth-pass ${GROUP} ${decodeURIComponent(main.password)}`] : []),
      `sentinel monitor ${EVICTING} 127.0.0.1 ${evictingPort} 1`,
    ];
    writeFileSync(join(dir, 'sentinel.conf'), `${conf.join('\n')}\n`);
    sentinel = OwnRedis.start(
      [join(dir, 'sentinel.conf'), '--sentinel'],
      sentinelPort,
      join(dir, 'sentinel.log'),
      'redis-server --sentinel',
    );
    for (const group of [GROUP, EVICTING]) {
      await sentinel.ready(async (r) => {
        const addr = (await r.call('SENTINEL', 'get-master-addr-by-name', group)) as string[] | null;
        return addr ?? undefined;
      });
    }
  });

  after(async () => {
    // The Sentinel first, so that it never sees its Redis go away.
    await sentinel?.stop();
    await evicting?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  describe('the connection factory', () => {
    it('connects to the primary the Sentinel names, with the db number of the URL and not its host', async () => {
      const db = 2;
      const settings = {
        url: urlWithUnusedHost(REDIS_URL, db),
        sentinel: { name: GROUP, nodes: [`127.0.0.1:${sentinelPort}`] },
      };
      const redis = redisConnection(
        settings,
        { lazyConnect: true, maxRetriesPerRequest: 1 },
        IGNORE_REDIS_ERRORS,
      );
      const plain = new Redis(REDIS_URL, { db });
      const key = `accord:sentinel-test:${suffix}`;
      try {
        await redis.connect();
        expect(redis.options.sentinels).to.deep.equal([{ host: '127.0.0.1', port: sentinelPort }]);
        expect(redis.options.name).to.equal(GROUP);
        expect(redis.options.db).to.equal(db);
        expect(redis.stream.remotePort).to.equal(MAIN_PORT);
        await redis.set(key, 'through-sentinel', 'EX', 60);
        expect(await redis.get(key)).to.equal('through-sentinel');
        // The same key, read on the machine's Redis directly: the primary, in db 2.
        expect(await plain.get(key)).to.equal('through-sentinel');
      } finally {
        await plain.del(key);
        plain.disconnect();
        redis.disconnect();
      }
    });

    it('takes user, password, db and TLS from the URL and the Sentinels’ password from the config', () => {
      const opts = sentinelOptions(
        {
          url: 'rediss://gw:p%40ss@ignored.example:6380/4',
          sentinel: { name: 'mymaster', nodes: ['s1.example:26379', '[::1]:26380'], password: 'sentinel-pw' },
        },
        { lazyConnect: true },
      );
      expect(opts).to.deep.equal({
        lazyConnect: true,
        sentinels: [
          { host: 's1.example', port: 26379 },
          { host: '::1', port: 26380 },
        ],
        name: 'mymaster',
        username: 'gw',
        password: 'p@ss',
        db: 4,
        sentinelPassword: 'sentinel-pw',
        tls: {},
        enableTLSForSentinelMode: true,
      });
      expect(opts).not.to.have.property('host');
      const where = describeRedis({
        url: 'redis://:secret@x:1',
        sentinel: { name: 'mymaster', nodes: ['s1.example:26379'], password: 'sentinel-pw' },
      });
      expect(where).to.include('mymaster').and.to.include('s1.example:26379');
      expect(where).not.to.include('secret').and.not.to.include('sentinel-pw');
      expect(describeRedis({ url: 'redis://:secret@x:1' })).to.equal('Redis at redis://:***@x:1');
    });
  });

  describe('a gateway on Sentinel', () => {
    let pair: Pair | undefined;
    afterEach(async () => {
      await pair?.close();
      pair = undefined;
    });

    it('delivers a request end to end with its signed receipt, and the reply back, when KZ finds Redis through Sentinel', async () => {
      pair = await startPair((raw) => {
        if (raw.party !== 'KZ') return;
        raw.redis = {
          url: urlWithUnusedHost(REDIS_URL),
          sentinel: { name: GROUP, nodes: [`127.0.0.1:${sentinelPort}`] },
        };
      });
      expect(pair.kzConfig.redis.sentinel?.name).to.equal(GROUP);
      const czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
      const kzMia = await pair.authority(pair.kzConfig, 'kz-mia');

      const { messageId } = await czIpc.client.submit(example('request', 'sentinel-1') as SubmissionInput);
      const got = await kzMia.inbox.waitFor((d) => d.envelope.id === messageId, 15_000, 'the request at KZ');
      expect(got.verification.signatureAlg).to.equal('ES256');
      // `delivered` comes only from KZ's signed receipt, checked by CZ against what it sent.
      await czIpc.events.waitFor(
        (e) => e.type === 'delivered' && e.messageId === messageId,
        15_000,
        'delivered (the receipt)',
      );
      // KZ kept its claim and the receipt it signed on the primary the Sentinel named.
      const plain = new Redis(REDIS_URL);
      try {
        const seen = await plain.hgetall(`${names(pair.kzConfig.namespace).redisPrefix}seen:${messageId}`);
        expect(seen.state).to.equal('delivered');
        expect(seen.receiptJwe?.split('.')).to.have.length(5);
      } finally {
        plain.disconnect();
      }

      // KZ sends too: its receipt timer is a BullMQ job on the Sentinel connection.
      const reply = example('reply', 'sentinel-reply-1') as SubmissionInput;
      if (reply.kind !== 'reply') throw new Error('example is not a reply');
      reply.body.inReplyTo = messageId;
      const { messageId: replyId } = await kzMia.client.submit(reply);
      await czIpc.inbox.waitFor((d) => d.envelope.id === replyId, 15_000, 'the reply at CZ');
      await kzMia.events.waitFor(
        (e) => e.type === 'delivered' && e.messageId === replyId,
        15_000,
        'reply delivered',
      );

      const started = pair.lines.find((l) => l.includes('Redis primary found through Sentinel'));
      expect(started).to.include(`"group":"${GROUP}"`).and.to.include(`:${MAIN_PORT}"`);
    });

    it('refuses to start when the primary the Sentinel names may evict keys', async () => {
      // The URL names the machine's Redis (noeviction, no credentials: the evicting Redis has none); the
      // gateway must check the primary the Sentinel names instead.
      const { cz } = pairConfigs(uniqueStem(), (raw) => {
        raw.redis = {
          url: `redis://${main.host}`,
          sentinel: { name: EVICTING, nodes: [`127.0.0.1:${sentinelPort}`] },
        };
      });
      const { log } = memoryLogger();
      const err = await Gateway.start(cz, log).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).to.have.property('code', 'infra.unavailable');
      expect(String((err as Error).message))
        .to.include('allkeys-lru')
        .and.to.include('noeviction');
    });
  });
});

describe('config: redis.sentinel', () => {
  const raw = () => JSON.parse(readFileSync(join(ROOT, 'config', 'kz.json'), 'utf8')) as Record<string, any>;
  const issuesOf = (data: unknown) => {
    const check = checkConfigData(data, join(ROOT, 'config'), {
      ACCORD_IDENTIFIER_KEY: TEST_ONLY_IDENTIFIER_KEY,
    });
    return check.ok ? [] : check.issues;
  };

  it('accepts a group name and host:port nodes, IPv6 in brackets', () => {
    const c = raw();
    c.redis.sentinel = {
      name: 'mymaster',
      nodes: ['sentinel-1.example:26379', '10.0.0.2:26379', '[::1]:26379'],
    };
    expect(issuesOf(c)).to.deep.equal([]);
  });

  it('refuses a node that is not host:port, naming the node’s path', () => {
    const c = raw();
    c.redis.sentinel = { name: 'mymaster', nodes: ['10.0.0.1:26379', '10.0.0.2', 'host:99999', 'a b:1'] };
    const issues = issuesOf(c);
    expect(issues).to.have.length(3);
    for (const i of [1, 2, 3])
      expect(issues).to.include(
        `redis.sentinel.nodes.${i}: host:port with a port from 1 to 65535 (an IPv6 address in brackets: [::1]:26379)`,
      );
  });

  it('refuses an empty list of nodes, more than nine, and a missing group name', () => {
    const c = raw();
    c.redis.sentinel = { nodes: [] };
    const issues = issuesOf(c);
    expect(issues).to.include('redis.sentinel.nodes: list at least one Sentinel as host:port');
    expect(issues.some((i) => i.startsWith('redis.sentinel.name: '))).to.equal(true);
    c.redis.sentinel = { name: 'm', nodes: Array.from({ length: 10 }, (_, i) => `s${i}.example:26379`) };
    expect(issuesOf(c).some((i) => i.startsWith('redis.sentinel.nodes: '))).to.equal(true);
  });

  it('is strict: an unknown key is refused, and the Sentinels’ password never appears in an issue', () => {
    const c = raw();
    c.redis.sentinel = { name: 'mymaster', nodes: ['s:26379'], master: 'x', password: 'hunter2-sentinel' };
    c.redis.url = 'redis://:hunter2-data@h:1/not-a-db';
    const issues = issuesOf(c);
    expect(issues.some((i) => i.startsWith('redis.sentinel: ') && i.includes('master'))).to.equal(true);
    expect(issues).to.include('redis.url: the path after host:port is a db number or empty');
    expect(issues.join('\n')).not.to.include('hunter2');
  });
});
