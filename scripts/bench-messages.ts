/**
 * `npm run bench:messages`: the message log (`accord messages`, `GET /api/messages`) over 100,000
 * messages. Fills the index (store/redis-message-log.ts) and the state it reads status from with
 * synthetic messages in a namespace of its own, then times:
 * - the index write a message's record adds on the hot path, beside a bare Redis round trip;
 * - filtered queries (a page of 50, newest first), each the median of several runs;
 * - beside them, the same authority filter answered without the index, by reading an audit log of
 *   100,000 records as a stream (what a search over the records on disk would cost).
 * Prints a table and one JSON line; removes its keys and files. `--messages N` changes the count.
 * Not part of `npm test`: timing belongs here. Uses the local Redis (ACCORD_REDIS_URL).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { parseMessageQuery, queryMessages } from '../src/admin/message-log.js';
import { GENESIS_HASH, auditLines, recordHash, type AuditRecord } from '../src/audit/log.js';
import { names } from '../src/config.js';
import { RedisMessageIndex } from '../src/store/redis-message-log.js';
import { RedisMessageState } from '../src/store/redis-state.js';

const REDIS_URL = process.env.ACCORD_REDIS_URL ?? 'redis://127.0.0.1:6379';
const { values: opts } = parseArgs({ options: { messages: { type: 'string', default: '100000' } } });
const COUNT = Number(opts.messages);
if (!Number.isInteger(COUNT) || COUNT < 1000) throw new Error('--messages: a whole number of at least 1000');

const CZ = ['cz-pp-ipc', 'cz-ndh', 'cz-nckb', 'cz-npa'];
const KZ = ['kz-mia', 'kz-ncb', 'kz-afm', 'kz-knb'];
/** Kinds by share of the traffic. */
const KINDS: [string, number][] = [
  ['request', 0.4],
  ['reply', 0.3],
  ['spontaneous', 0.1],
  ['travel-document', 0.1],
  ['person-search', 0.05],
  ['refusal-notice', 0.05],
];
const DAY = 86_400_000;
const NOW = Date.now();

/** A deterministic pseudo-random stream, so runs compare. */
function prng(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648;
}

interface Synthetic {
  rec: AuditRecord;
  out: boolean;
  fate: 'delivered' | 'sent' | 'failed';
}

/** Message `i` of 30 days of traffic, newest last. */
function synthetic(i: number, rnd: () => number, prevHash: string): Synthetic {
  const out = rnd() < 0.5;
  const cz = `CZ/${CZ[Math.floor(rnd() * CZ.length)]}`;
  const kz = `KZ/${KZ[Math.floor(rnd() * KZ.length)]}`;
  let pick = rnd();
  const kind = KINDS.find(([, share]) => (pick -= share) < 0)?.[0] ?? 'request';
  const r = rnd();
  const fate = r < 0.005 ? 'failed' : r < 0.02 ? 'sent' : 'delivered';
  const body: Omit<AuditRecord, 'hash'> = {
    type: out ? 'provision' : 'receipt',
    messageId: `${randomBytes(4).toString('hex')}-0000-4000-8000-${String(i).padStart(12, '0')}`,
    kind,
    purposes: ['combating-crime'],
    subjectCount: 1,
    fromAuthority: out ? cz : kz,
    toAuthority: out ? kz : cz,
    seq: i,
    time: new Date(NOW - 30 * DAY + Math.floor((i / COUNT) * 30 * DAY)).toISOString(),
    prevHash,
  };
  return { rec: { ...body, hash: recordHash(body) }, out, fate };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * p)]!;
const ms = (t: bigint) => Number(process.hrtime.bigint() - t) / 1e6;

const redis = new Redis(REDIS_URL);
const prefix = names(`bench${randomBytes(3).toString('hex')}`).redisPrefix;
const dir = mkdtempSync(join(tmpdir(), 'accord-bench-messages-'));
const results: Record<string, number> = { messages: COUNT };
try {
  const index = new RedisMessageIndex(redis, prefix, 'CZ', 90 * 86_400);
  const rnd = prng(20_261_204);
  const messages: Synthetic[] = [];
  let prev = GENESIS_HASH;
  for (let i = 0; i < COUNT; i++) {
    const m = synthetic(i, rnd, prev);
    prev = m.rec.hash;
    messages.push(m);
  }
  const memoryBefore = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? 0);

  // The hot path: one index write after each record, one at a time (what a message waits for),
  // beside a bare round trip to the same Redis.
  const serial = 2000;
  const writeMs: number[] = [];
  const pingMs: number[] = [];
  for (let i = 0; i < serial; i++) {
    let t = process.hrtime.bigint();
    await redis.set(`${prefix}bench:ping`, '1');
    pingMs.push(ms(t));
    t = process.hrtime.bigint();
    await index.record(messages[i]!.rec);
    writeMs.push(ms(t));
  }
  results.indexWriteP50Ms = median(writeMs);
  results.indexWriteP99Ms = pct(writeMs, 0.99);
  results.redisSetP50Ms = median(pingMs);
  results.redisSetP99Ms = pct(pingMs, 0.99);
  // The rest, 64 at a time.
  const fillStart = process.hrtime.bigint();
  for (let i = serial; i < COUNT; i += 64) {
    await Promise.all(messages.slice(i, i + 64).map((m) => index.record(m.rec)));
  }
  results.fillPerSecond = Math.round((COUNT - serial) / (ms(fillStart) / 1000));
  const memoryAfter = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? 0);
  results.indexBytesPerMessage = Math.round((memoryAfter - memoryBefore) / COUNT);

  // The state the status is read from, as the pipelines leave it.
  for (let i = 0; i < COUNT; i += 1000) {
    const p = redis.pipeline();
    for (const m of messages.slice(i, i + 1000)) {
      const id = m.rec.messageId!;
      if (m.out) {
        const at = m.rec.time;
        p.hset(`${prefix}sent:${id}`, 'claimedAt', at, 'sentAt', at);
        if (m.fate === 'delivered') p.hset(`${prefix}sent:${id}`, 'deliveredAt', at);
      } else {
        p.hset(`${prefix}seen:${id}`, 'state', m.fate === 'delivered' ? 'delivered' : 'pending');
      }
    }
    await p.exec();
  }
  const state = new RedisMessageState(redis, prefix);
  for (const m of messages)
    if (m.out && m.fate === 'failed') await state.markFailed(m.rec.messageId!, m.rec.time);

  const day = new Date(NOW - 10 * DAY).toISOString().slice(0, 10);
  const queries: [string, Record<string, string>][] = [
    ['newest page', {}],
    ['--authority cz-ndh', { authority: 'cz-ndh' }],
    ['--kind refusal-notice', { kind: 'refusal-notice' }],
    ['--authority kz-afm --kind request', { authority: 'kz-afm', kind: 'request' }],
    [`--from ${day} --to ${day}`, { from: day, to: day }],
    ['--direction in --status delivered', { direction: 'in', status: 'delivered' }],
    ['--status failed (0.25%)', { status: 'failed' }],
    ['--status sent (0.75%)', { status: 'sent' }],
    ['--kind refusal-notice --status failed', { kind: 'refusal-notice', status: 'failed' }],
    ['--id (exact)', { id: messages[COUNT / 2]!.rec.messageId! }],
  ];
  const rows: [string, number, number, string][] = [];
  for (const [name, filters] of queries) {
    const q = parseMessageQuery({ limit: '50', ...filters });
    const times: number[] = [];
    let found = 0;
    let more = false;
    for (let run = 0; run < 7; run++) {
      const t = process.hrtime.bigint();
      const page = await queryMessages(redis, prefix, q);
      times.push(ms(t));
      found = page.items.length;
      more = page.next !== undefined;
    }
    rows.push([name, median(times), found, more ? 'yes' : 'no']);
    results[`query ${name}`] = median(times);
  }
  // Ten pages deep, following the cursor.
  {
    const t = process.hrtime.bigint();
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const p = await queryMessages(
        redis,
        prefix,
        parseMessageQuery({ authority: 'cz-ndh', limit: '50', ...(cursor === undefined ? {} : { cursor }) }),
      );
      cursor = p.next;
    }
    const total = ms(t);
    rows.push(['10 pages of --authority cz-ndh', total / 10, 50, 'yes']);
    results['query 10 pages (per page)'] = total / 10;
  }

  // Without the index: the same authority filter over the audit log on disk, read as a stream.
  const log = join(dir, 'audit.jsonl');
  writeFileSync(log, `${messages.map((m) => JSON.stringify(m.rec)).join('\n')}\n`);
  {
    const t = process.hrtime.bigint();
    const hits: AuditRecord[] = [];
    for await (const { line } of auditLines(log)) {
      if (!line.includes('cz-ndh')) continue;
      const rec = JSON.parse(line) as AuditRecord;
      if (rec.fromAuthority === 'CZ/cz-ndh' || rec.toAuthority === 'CZ/cz-ndh') hits.push(rec);
    }
    // Newest first, a page: all of it had to be read to know which.
    hits.reverse().slice(0, 50);
    results['scan audit log --authority cz-ndh'] = ms(t);
    rows.push(['(no index) audit log scan, --authority cz-ndh', ms(t), 50, '-']);
  }

  const w = Math.max(...rows.map((r) => r[0].length));
  process.stdout.write(
    `message log over ${COUNT} messages\n` +
      `index write per message: p50 ${results.indexWriteP50Ms.toFixed(3)} ms, p99 ${results.indexWriteP99Ms.toFixed(3)} ms ` +
      `(a bare SET: p50 ${results.redisSetP50Ms.toFixed(3)} ms, p99 ${results.redisSetP99Ms.toFixed(3)} ms); ` +
      `${results.indexBytesPerMessage} bytes of Redis per message\n` +
      `${'query'.padEnd(w)}  median ms  rows  more\n` +
      rows
        .map(
          ([n, t, f, m]) => `${n.padEnd(w)}  ${t.toFixed(1).padStart(9)}  ${String(f).padStart(4)}  ${m}\n`,
        )
        .join(''),
  );
  process.stdout.write(`${JSON.stringify({ scenario: 'message-log', ...results })}\n`);
} finally {
  for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 1000 })) {
    if ((keys as string[]).length > 0) await redis.unlink(...(keys as string[]));
  }
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
}
