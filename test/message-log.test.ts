/**
 * The message log: `accord messages` and `GET /api/messages` find the messages a gateway sent and
 * received by authority, kind, status, direction, time and id, newest first, a page at a time, with
 * metadata only; a bad filter is one coded line naming the option; the API needs the bearer token and
 * links each row to `GET /api/trace/<id>`.
 */
import { expect } from 'chai';
import { Redis } from 'ioredis';
import type { SubmissionInput } from '../src/client/index.js';
import { parseMessageQuery, queryMessages, type MessagePage } from '../src/admin/message-log.js';
import { names } from '../src/config.js';
import { messageLogKeys, RedisMessageIndex } from '../src/store/redis-message-log.js';
import { RedisMessageState } from '../src/store/redis-state.js';
import {
  REDIS_URL,
  configFileFor,
  eventually,
  example,
  runCli,
  startPair,
  type Pair,
} from './helpers/harness.js';
import { expectCode } from './helpers/expect-code.js';

const TOKEN = 'test-only-admin-token-0123456789abcdef';

describe('message log: accord messages and GET /api/messages', function () {
  this.timeout(90_000);
  let pair: Pair;
  let file: string;
  let base: string;
  let redis: Redis;
  let prefix: string;
  /** request cz-pp-ipc → kz-mia, spontaneous cz-ndh → kz-mia, reply kz-mia → cz-pp-ipc; in that order. */
  let request: string;
  let spontaneous: string;
  let reply: string;
  /** A synthetic row whose message was sent and awaits its receipt. */
  const awaiting = '00000000-0000-4000-8000-00000000a11e';
  /** And one that got no receipt after the last resend, a day before it. */
  const failed = '00000000-0000-4000-8000-0000000fa11d';
  /** The day of the synthetic row, and the day after it (before the real messages). */
  const day = (ago: number) => new Date(Date.now() - ago * 86_400_000).toISOString().slice(0, 10);

  const messages = async (...args: string[]) => {
    const r = await runCli(['messages', '--config', file, '--json', ...args]);
    expect(r.code, r.stderr).to.equal(0);
    return JSON.parse(r.stdout) as MessagePage;
  };
  /** The ids the query with these options finds, asked in this process (the CLI's code path but its process). */
  const ids = async (...args: string[]) => {
    const filters: Record<string, string> = {};
    for (let i = 0; i < args.length; i += 2) filters[args[i]!.slice(2)] = args[i + 1]!;
    const page = await queryMessages(redis, prefix, parseMessageQuery(filters));
    return page.items.map((m) => m.id);
  };
  const get = (path: string, token: string | null = TOKEN) =>
    fetch(`${base}${path}`, token === null ? {} : { headers: { authorization: `Bearer ${token}` } });

  before(async () => {
    process.env.ACCORD_TEST_ADMIN_TOKEN = TOKEN;
    pair = await startPair((raw) => {
      if (raw.party === 'CZ') raw.admin = { port: 0, tokenEnv: 'ACCORD_TEST_ADMIN_TOKEN' };
    });
    const address = pair.cz.adminAddress!;
    base = `http://${address.address}:${address.port}`;
    file = configFileFor(pair.czConfig);
    redis = new Redis(REDIS_URL);
    const czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
    const czNdh = await pair.authority(pair.czConfig, 'cz-ndh');
    const kzMia = await pair.authority(pair.kzConfig, 'kz-mia');
    request = (await czIpc.client.submit(example('request', 'log-1') as SubmissionInput)).messageId;
    await czIpc.events.waitFor((e) => e.type === 'delivered' && e.messageId === request, 20_000, 'request');
    spontaneous = (await czNdh.client.submit(example('spontaneous', 'log-2') as SubmissionInput)).messageId;
    await czNdh.events.waitFor((e) => e.type === 'delivered' && e.messageId === spontaneous, 20_000, 'spont');
    const answer = example('reply', 'log-3');
    answer.body.inReplyTo = request;
    reply = (await kzMia.client.submit(answer as SubmissionInput)).messageId;
    await kzMia.events.waitFor((e) => e.type === 'delivered' && e.messageId === reply, 20_000, 'reply');
    // Messages sent and not receipted, as the index and the sent record hold them.
    prefix = names(pair.czConfig.namespace).redisPrefix;
    const index = new RedisMessageIndex(redis, prefix, 'CZ', 3600);
    const synthetic = async (id: string, daysAgo: number, kind: string, from: string, to: string) => {
      const at = new Date(Date.now() - daysAgo * 86_400_000).toISOString();
      await index.record({
        type: 'provision',
        messageId: id,
        kind,
        fromAuthority: from,
        toAuthority: to,
        seq: 0,
        time: at,
        prevHash: '0'.repeat(64),
        hash: '0'.repeat(64),
      });
      await redis.hset(`${prefix}sent:${id}`, 'claimedAt', at, 'sentAt', at);
      await redis.expire(`${prefix}sent:${id}`, 3600);
      return at;
    };
    await synthetic(awaiting, 2, 'request', 'CZ/cz-ndh', 'KZ/kz-ncb');
    const failedAt = await synthetic(failed, 3, 'travel-document', 'CZ/cz-pp-ipc', 'KZ/kz-ncb');
    expect(await new RedisMessageState(redis, prefix).markFailed(failed, failedAt)).to.equal(true);
  });
  after(async () => {
    redis.disconnect();
    await pair.close();
  });

  it('lists what the gateway sent and received, newest first, with status and metadata only', async () => {
    const page = await eventually(
      async () => {
        const p = await messages();
        return p.items.find((m) => m.id === reply)?.status === 'delivered' ? p : undefined;
      },
      10_000,
      'the reply delivered in the log',
    );
    expect(page.items.map((m) => m.id)).to.deep.equal([reply, spontaneous, request, awaiting, failed]);
    expect(page.next).to.equal(undefined);
    const [r, s, q, a, f] = page.items;
    expect(r).to.include({ kind: 'reply', direction: 'in', from: 'KZ/kz-mia', to: 'CZ/cz-pp-ipc' });
    expect(r).to.include({ record: 'receipt', refersTo: request, status: 'delivered' });
    expect(s).to.include({ kind: 'spontaneous', direction: 'out', from: 'CZ/cz-ndh', status: 'delivered' });
    expect(q).to.include({ kind: 'request', direction: 'out', to: 'KZ/kz-mia', status: 'delivered' });
    expect(a).to.include({ status: 'sent' });
    expect(f).to.include({ status: 'failed' });
    for (const m of page.items) {
      expect(Object.keys(m)).to.satisfy((keys: string[]) =>
        keys.every((k) =>
          ['id', 'kind', 'direction', 'from', 'to', 'at', 'record', 'grounds', 'refersTo', 'status'].includes(
            k,
          ),
        ),
      );
    }
    // Never content: nothing of the example bodies.
    expect(JSON.stringify(page)).not.to.match(/passport|precursors|N12345678/i);
  });

  it('filters by authority, kind, direction, status, time range and id', async () => {
    expect(await ids('--authority', 'cz-ndh')).to.deep.equal([spontaneous, awaiting]);
    expect(await ids('--authority', 'KZ/kz-mia')).to.deep.equal([reply, spontaneous, request]);
    expect(await ids('--authority', 'CZ/kz-mia')).to.deep.equal([]);
    expect(await ids('--authority', 'cz-pp-ipc', '--kind', 'request')).to.deep.equal([request]);
    expect(await ids('--kind', 'reply')).to.deep.equal([reply]);
    expect(await ids('--direction', 'in')).to.deep.equal([reply]);
    expect(await ids('--status', 'sent')).to.deep.equal([awaiting]);
    expect(await ids('--status', 'delivered')).to.deep.equal([reply, spontaneous, request]);
    expect(await ids('--status', 'failed')).to.deep.equal([failed]);
    expect(await ids('--status', 'failed', '--kind', 'request')).to.deep.equal([]);
    expect(await ids('--status', 'sealed')).to.deep.equal([]);
    expect(await ids('--to', day(2))).to.deep.equal([awaiting, failed]);
    expect(await ids('--from', `${day(1)}T00:00:00Z`, '--kind', 'request')).to.deep.equal([request]);
    expect(await ids('--from', day(2), '--to', day(1))).to.deep.equal([awaiting]);
    expect(await ids('--id', spontaneous.slice(0, 8))).to.deep.equal([spontaneous]);
    expect(await ids('--id', request)).to.deep.equal([request]);
    expect(await ids('--id', request, '--direction', 'in')).to.deep.equal([]);
    // The same through the command's options.
    const cli = await messages(
      '--authority',
      'cz-ndh',
      '--status',
      'sent',
      '--from',
      day(3),
      '--id',
      awaiting.slice(0, 4),
    );
    expect(cli.items.map((m) => m.id)).to.deep.equal([awaiting]);
  });

  it('pages with --limit and --cursor, as a table on a terminal with the next page named', async () => {
    const page = (cursor?: string) =>
      queryMessages(
        redis,
        prefix,
        parseMessageQuery({ limit: '2', ...(cursor === undefined ? {} : { cursor }) }),
      );
    const first = await page();
    expect(first.items.map((m) => m.id)).to.deep.equal([reply, spontaneous]);
    expect(first.next).to.be.a('string');
    const second = await messages('--limit', '2', '--cursor', first.next!);
    expect(second.items.map((m) => m.id)).to.deep.equal([request, awaiting]);
    const third = await page(second.next);
    expect(third.items.map((m) => m.id)).to.deep.equal([failed]);
    expect(third.next).to.equal(undefined);
    const text = await runCli(['messages', '--config', file, '--limit', '2']);
    expect(text.code, text.stderr).to.equal(0);
    const lines = text.stdout.trim().split('\n');
    expect(lines[0]).to.match(/^time\s+id\s+dir\s+kind\s+from → to\s+status/);
    expect(lines[1]).to.contain(reply).and.contain('KZ/kz-mia → CZ/cz-pp-ipc').and.contain('delivered');
    expect(lines.at(-1)).to.equal(`next: --cursor ${first.next}`);
  });

  it('refuses a bad filter in one coded line naming the option, exit 2', async () => {
    for (const [option, value] of [
      ['--status', 'lost'],
      ['--limit', '0'],
    ] as const) {
      const r = await runCli(['messages', '--config', file, option, value]);
      expect(r.code, `${option} ${value}`).to.equal(2);
      expect(r.stderr.trim().split('\n')).to.have.length(1);
      expect(r.stderr).to.match(new RegExp(`^input\\.invalid: ${option}: `));
    }
    for (const [name, value] of [
      ['kind', 'letter'],
      ['limit', '501'],
      ['from', 'yesterday'],
      ['to', '2026-13-01'],
      ['authority', 'CZ/'],
      ['id', 'ABC'],
      ['cursor', 'abc'],
    ] as const) {
      const err = await expectCode(
        () => parseMessageQuery({ [name]: value }, (n) => `--${n}`),
        'input.invalid',
        `--${name}`,
      );
      expect(err.message).to.match(new RegExp(`^--${name}: `));
    }
  });

  it('serves the log and each row’s trace as JSON to the bearer of the admin token only', async () => {
    for (const path of ['/api/messages', `/api/trace/${request}`]) {
      expect((await get(path, null)).status, path).to.equal(401);
      expect((await get(path, `${TOKEN}x`)).status, path).to.equal(401);
    }
    const res = await get('/api/messages?kind=request&limit=1');
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.equal('application/json');
    const page = (await res.json()) as MessagePage;
    expect(page.items.map((m) => m.id)).to.deep.equal([request]);
    const next = (await (
      await get(`/api/messages?kind=request&limit=1&cursor=${page.next!}`)
    ).json()) as MessagePage;
    expect(next.items.map((m) => m.id)).to.deep.equal([awaiting]);
    const bad = await get('/api/messages?status=lost');
    expect(bad.status).to.equal(400);
    expect(await bad.json()).to.deep.include({ code: 'input.invalid', path: 'status' });
    expect((await get('/api/messages?colour=red')).status).to.equal(400);
    const trace = await get(`/api/trace/${request}`);
    expect(trace.status).to.equal(200);
    const body = (await trace.json()) as { messageId: string; known: boolean; steps: unknown[] };
    expect(body).to.include({ messageId: request, known: true });
    expect(body.steps.length).to.be.greaterThan(0);
    // The same story `accord trace --json` tells.
    const cli = await runCli(['trace', request, '--config', file, '--json']);
    expect(JSON.parse(cli.stdout)).to.deep.equal(body);
    expect((await get('/api/trace/00000000-0000-4000-8000-000000000000')).status).to.equal(404);
    expect((await get('/api/trace/not-an-id')).status).to.equal(400);
  });
});

describe('message log index upkeep', () => {
  it('trims entries past the retention as it writes, each set at most once a second', async function () {
    this.timeout(10_000);
    const redis = new Redis(REDIS_URL);
    const prefix = `accord:trim-${Date.now().toString(36)}:`;
    const index = new RedisMessageIndex(redis, prefix, 'CZ', 60);
    const row = (id: string, secondsAgo: number) =>
      index.record({
        type: 'provision',
        messageId: id,
        kind: 'request',
        fromAuthority: 'CZ/cz-ndh',
        toAuthority: 'KZ/kz-ncb',
        seq: 0,
        time: new Date(Date.now() - secondsAgo * 1000).toISOString(),
        prevHash: '0'.repeat(64),
        hash: '0'.repeat(64),
      });
    const all = () => redis.zrange(messageLogKeys(prefix).all, 0, -1);
    const old = '00000000-0000-4000-8000-0000000001d0';
    try {
      await row(old, 600); // ten minutes old, past the retention of one
      await row('00000000-0000-4000-8000-000000000001', 0);
      expect(await all(), 'not trimmed again within the second').to.include(old);
      await new Promise((r) => setTimeout(r, 1100));
      await row('00000000-0000-4000-8000-000000000002', 0);
      expect(await all(), 'trimmed a second later').to.not.include(old);
      expect(await all()).to.have.length(2);
      expect(await redis.ttl(messageLogKeys(prefix).all)).to.be.within(1, 60);
    } finally {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
  });
});
