/**
 * The message log: search and filter the messages this gateway sent and received — by authority,
 * kind, status, direction, time range and id — newest first, a page at a time. `accord messages` and
 * the admin server's `GET /api/messages` both call {@link queryMessages}. Rows are metadata only (see
 * store/redis-message-log.ts for the index they come from); each carries the message id, which
 * `accord trace` and `GET /api/trace/<id>` take.
 *
 * Status is read, not indexed: it changes over a message's life, and the gateway keeps it already, in
 * the state `accord trace` reads (the sent record, the de-duplication record, the ledger, the review
 * queue). It is read for each candidate row of a page, one pipelined round trip per batch. The one
 * exception is `failed` — rare, and what an operator searches for — which has a set of its own.
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { AuthorityId, PartyId } from '../domain/common.js';
import { GATEWAY_ONLY, SUBMITTABLE } from '../domain/messages.js';
import { AccordError } from '../errors.js';
import { authorityOf, messageLogKeys, type MessageRow } from '../store/redis-message-log.js';

/**
 * Where a message stands. Sent: `sealed` (not yet confirmed by the broker), `sent` (awaiting the
 * peer's receipt), `delivered` (receipted), `failed` (no receipt after the last resend). Received:
 * `received` (delivery under way), `delivered` (to the authority), `held` (awaiting review),
 * `destroyed` (its personal data, Art. 10(5)). `expired`: the state records have expired.
 */
export const MESSAGE_STATUSES = [
  'sealed',
  'sent',
  'delivered',
  'failed',
  'received',
  'held',
  'destroyed',
  'expired',
] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

const KINDS = [...Object.keys(SUBMITTABLE), ...Object.keys(GATEWAY_ONLY)] as [string, ...string[]];

/** A time: ISO 8601, a date alone meaning its start (for `from`) or its whole day (for `to`). */
const Time = z
  .string()
  .max(40)
  .refine((s) => /^\d{4}-\d{2}-\d{2}/.test(s) && !Number.isNaN(Date.parse(s)), 'an ISO 8601 date or time');

/** The filters, as strings from a command line or a query string. */
export const MessageQuerySchema = z.strictObject({
  authority: z
    .string()
    .max(70)
    .refine((s) => {
      const [a, b] = s.split('/');
      return b === undefined
        ? AuthorityId.safeParse(a).success
        : PartyId.safeParse(a).success && AuthorityId.safeParse(b).success;
    }, 'an authority id, or PARTY/authority')
    .optional(),
  kind: z.enum(KINDS).optional(),
  status: z.enum(MESSAGE_STATUSES).optional(),
  direction: z.enum(['in', 'out']).optional(),
  from: Time.optional(),
  to: Time.optional(),
  id: z
    .string()
    .regex(/^[0-9a-f-]{1,36}$/, 'a message id (a UUID) or its first characters, in lower case')
    .optional(),
  limit: z
    .string()
    .regex(/^\d{1,4}$/, 'a whole number from 1 to 500')
    .transform(Number)
    .refine((n) => n >= 1 && n <= 500, 'a whole number from 1 to 500')
    .optional(),
  cursor: z
    .string()
    .regex(/^\d{1,15}:[0-9a-f-]{36}$/, 'a cursor as printed by the previous page')
    .optional(),
});

/** A checked query. */
export interface MessageQuery {
  authority?: { party?: string; id: string };
  kind?: string;
  status?: MessageStatus;
  direction?: 'in' | 'out';
  fromMs: number;
  toMs: number;
  id?: string;
  limit: number;
  cursor?: { score: number; id: string };
}

/** One row of the log with its status. */
export interface MessageLogItem extends MessageRow {
  status: MessageStatus;
}

/** A page: its rows, newest first, and the cursor of the next page (absent on the last). */
export interface MessagePage {
  items: MessageLogItem[];
  next?: string;
}

/** The default page size. */
export const DEFAULT_LIMIT = 50;
/** At most this many index entries are read for one page: a rare filter gives a short page and a cursor. */
const SCAN_BUDGET = 50_000;
/** The most index entries read (and rows and statuses fetched) in one round trip. */
const BATCH = 1000;

/**
 * Check the filters; an invalid one throws `input.invalid` whose message starts with the filter's name
 * as the caller spells it (`--status` on the command line, `status` in a query string).
 */
export function parseMessageQuery(
  raw: Record<string, string | undefined>,
  label: (name: string) => string = (n) => n,
): MessageQuery {
  const given = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined));
  const r = MessageQuerySchema.safeParse(given);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const name = String(issue.path[0] ?? '');
    const what =
      issue.code === 'unrecognized_keys'
        ? `unknown filter ${issue.keys.map(label).join(', ')}`
        : `${label(name)}: ${issue.message}`;
    throw new AccordError('input.invalid', what, name === '' ? {} : { path: label(name) });
  }
  const q = r.data;
  const dayOnly = (s: string) => /^\d{4}-\d{2}-\d{2}$/.test(s);
  const fromMs = q.from === undefined ? -Infinity : Date.parse(q.from);
  const toMs = q.to === undefined ? Infinity : Date.parse(q.to) + (dayOnly(q.to) ? 86_399_999 : 0);
  if (fromMs > toMs)
    throw new AccordError('input.invalid', `${label('from')}: after ${label('to')}`, { path: label('from') });
  const [p, a] = q.authority?.split('/') ?? [];
  return {
    ...(q.authority === undefined ? {} : { authority: a === undefined ? { id: p! } : { party: p!, id: a } }),
    ...(q.kind === undefined ? {} : { kind: q.kind }),
    ...(q.status === undefined ? {} : { status: q.status }),
    ...(q.direction === undefined ? {} : { direction: q.direction }),
    fromMs,
    toMs,
    ...(q.id === undefined ? {} : { id: q.id }),
    limit: q.limit ?? DEFAULT_LIMIT,
    ...(q.cursor === undefined
      ? {}
      : { cursor: { score: Number(q.cursor.split(':')[0]), id: q.cursor.slice(q.cursor.indexOf(':') + 1) } }),
  };
}

/** Whether a row matches the filters other than status and time. */
function matches(row: MessageRow, q: MessageQuery): boolean {
  if (q.kind !== undefined && row.kind !== q.kind) return false;
  if (q.direction !== undefined && row.direction !== q.direction) return false;
  if (q.id !== undefined && !row.id.startsWith(q.id)) return false;
  if (q.authority !== undefined) {
    const { party, id } = q.authority;
    const at = (address: string) =>
      authorityOf(address) === id && (party === undefined || address.startsWith(`${party}/`));
    if (!at(row.from) && !at(row.to)) return false;
  }
  return true;
}

/** The status of each row, from the state the gateway keeps (what `accord trace` reads). */
async function statusesOf(redis: Redis, prefix: string, rows: MessageRow[]): Promise<MessageStatus[]> {
  const p = redis.pipeline();
  for (const r of rows) {
    if (r.direction === 'out') {
      // `rec` holds the sealed message: only whether it is there (HEXISTS), never the value.
      p.hmget(`${prefix}sent:${r.id}`, 'claimedAt', 'sentAt', 'deliveredAt', 'failedAt').hexists(
        `${prefix}sent:${r.id}`,
        'rec',
      );
    } else {
      p.zscore(`${prefix}reviews:pending`, r.id)
        .hget(`${prefix}seen:${r.id}`, 'state')
        .get(`${prefix}ledger:in:${r.id}`);
    }
  }
  const results = (await p.exec()) ?? [];
  let at = 0;
  const next = () => {
    const [err, value] = results[at++] ?? [null, null];
    if (err) throw err;
    return value;
  };
  return rows.map((r): MessageStatus => {
    if (r.direction === 'out') {
      const [claimed, sent, delivered, failed] = next() as (string | null)[];
      const sealed = next() === 1;
      if (failed) return 'failed';
      if (delivered) return 'delivered';
      if (sent) return 'sent';
      return claimed || sealed ? 'sealed' : 'expired';
    }
    const pending = next() as string | null;
    const seen = next() as string | null;
    const ledger = next() as string | null;
    if (pending !== null) return 'held';
    if (ledger !== null && (JSON.parse(ledger) as { state?: string }).state === 'destroyed')
      return 'destroyed';
    if (seen === 'delivered' || ledger !== null) return 'delivered';
    if (seen === 'pending') return 'received';
    return 'expired';
  });
}

/** The index set to walk: the narrowest one the filters allow. */
async function driverSet(
  redis: Redis,
  prefix: string,
  q: MessageQuery,
  min: string,
  max: string,
): Promise<string> {
  const keys = messageLogKeys(prefix);
  const candidates = [
    ...(q.authority === undefined ? [] : [keys.authority(q.authority.id)]),
    ...(q.kind === undefined ? [] : [keys.kind(q.kind)]),
    ...(q.status === 'failed' ? [keys.failed] : []),
  ];
  if (candidates.length === 0) return keys.all;
  if (candidates.length === 1) return candidates[0]!;
  const counts = await Promise.all(candidates.map((k) => redis.zcount(k, min, max)));
  const least = counts.indexOf(Math.min(...counts));
  return candidates[least]!;
}

const bound = (ms: number) => (ms === Infinity ? '+inf' : ms === -Infinity ? '-inf' : String(ms));

/** One page of the log, newest first. */
export async function queryMessages(redis: Redis, prefix: string, q: MessageQuery): Promise<MessagePage> {
  const keys = messageLogKeys(prefix);
  const items: MessageLogItem[] = [];
  if (q.id !== undefined && q.id.length === 36) {
    // An exact id: its row, if the filters let it through.
    const raw = await redis.get(keys.row(q.id));
    const row = raw === null ? undefined : (JSON.parse(raw) as MessageRow);
    if (row === undefined || !matches(row, q)) return { items };
    const t = Date.parse(row.at);
    if (t < q.fromMs || t > q.toMs) return { items };
    const [status] = await statusesOf(redis, prefix, [row]);
    return status === undefined || (q.status !== undefined && status !== q.status)
      ? { items }
      : { items: [{ ...row, status }] };
  }
  const min = bound(q.fromMs);
  const maxMs = Math.min(q.toMs, q.cursor?.score ?? Infinity);
  const max = bound(maxMs);
  const set = await driverSet(redis, prefix, q, min, max);
  let offset = 0;
  let scanned = 0;
  // A page without a selective filter fills from its first read; a rare filter reads ever more at once.
  let size = Math.min(BATCH, q.limit + 1);
  // The position after which the next page starts: the last row returned, or the last entry read.
  let last: { score: number; id: string } | undefined;
  for (;;) {
    const page = await redis.zrevrangebyscore(set, max, min, 'WITHSCORES', 'LIMIT', offset, size);
    offset += page.length / 2;
    const batch: { id: string; score: number }[] = [];
    for (let i = 0; i < page.length; i += 2) {
      const id = page[i]!;
      const score = Number(page[i + 1]);
      // Entries at the cursor's own time that came before it (same score, later id) were on a page.
      if (q.cursor !== undefined && score === q.cursor.score && id >= q.cursor.id) continue;
      batch.push({ id, score });
    }
    scanned += page.length / 2;
    if (batch.length > 0) {
      const raws = await redis.mget(...batch.map((b) => keys.row(b.id)));
      const rows: { row: MessageRow; score: number }[] = [];
      raws.forEach((raw, i) => {
        if (raw === null) return;
        const row = JSON.parse(raw) as MessageRow;
        if (matches(row, q)) rows.push({ row, score: batch[i]!.score });
      });
      const statuses =
        rows.length === 0
          ? []
          : await statusesOf(
              redis,
              prefix,
              rows.map((r) => r.row),
            );
      let b = 0;
      for (const entry of batch) {
        const hit = rows[b]?.row.id === entry.id ? rows[b] : undefined;
        const status = hit === undefined ? undefined : statuses[b++];
        if (hit !== undefined && status !== undefined && (q.status === undefined || status === q.status)) {
          if (items.length === q.limit) {
            return { items, next: `${last!.score}:${last!.id}` };
          }
          items.push({ ...hit.row, status });
        }
        last = entry;
      }
    }
    if (page.length / 2 < size) return { items };
    size = Math.min(BATCH, size * 2);
    if (scanned >= SCAN_BUDGET && last !== undefined) return { items, next: `${last.score}:${last.id}` };
  }
}
