/**
 * The message log on the admin server, as JSON for the console: `GET /api/messages?authority=&kind=&
 * status=&direction=&from=&to=&id=&limit=&cursor=` (a page, {items, next}; admin/message-log.ts) and
 * `GET /api/trace/<id>` (one message's timeline, what `accord trace --json` prints). The server checks
 * the bearer token before it gets here. A bad parameter is a 400 with `{code, message, path}`.
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { AccordError } from '../errors.js';
import { parseMessageQuery, queryMessages } from './message-log.js';
import type { MessageTrace } from './message-trace.js';

/** What the routes read: the gateway's Redis and namespace, and its trace. */
export interface MessageLogSource {
  redis: Redis;
  prefix: string;
  trace: (id: string) => Promise<MessageTrace>;
}

/** A JSON answer. */
export interface JsonAnswer {
  status: number;
  body: string;
}

const json = (status: number, value: unknown): JsonAnswer => ({ status, body: `${JSON.stringify(value)}\n` });

const invalid = (err: AccordError) =>
  json(400, { code: err.code, message: err.message, ...(err.path === undefined ? {} : { path: err.path }) });

/** The answer to `url` when it is one of these routes, else undefined. */
export async function messageLogRoute(
  source: MessageLogSource,
  url: string,
): Promise<JsonAnswer | undefined> {
  const parsed = new URL(url, 'http://admin.invalid');
  if (parsed.pathname === '/api/messages') {
    try {
      // A Map, then own properties: a parameter named `__proto__` is an unknown filter like any other.
      const raw = new Map<string, string>();
      for (const [k, v] of parsed.searchParams) {
        if (raw.has(k)) throw new AccordError('input.invalid', `${k}: given more than once`, { path: k });
        raw.set(k, v);
      }
      const query = parseMessageQuery(Object.fromEntries(raw));
      return json(200, await queryMessages(source.redis, source.prefix, query));
    } catch (err) {
      if (err instanceof AccordError && err.code === 'input.invalid') return invalid(err);
      throw err;
    }
  }
  if (parsed.pathname.startsWith('/api/trace/')) {
    const id = z.uuid().safeParse(parsed.pathname.slice('/api/trace/'.length));
    if (!id.success)
      return invalid(new AccordError('input.invalid', 'id: a message id (a UUID)', { path: 'id' }));
    const trace = await source.trace(id.data);
    return json(trace.known ? 200 : 404, trace);
  }
  return undefined;
}
