/**
 * The dead letters on the admin server, as JSON, behind its authorisation (server.ts mounts these):
 *
 * - `GET /api/dlq` — `{ letters, total, open, truncated }`; query `code` (a code, or a family as
 *   `crypto.`), `origin` (outbox | ingress), `since` / `until` (ISO), `state` (open | resolved);
 * - `GET /api/dlq/<ref>` — one letter;
 * - `POST /api/dlq/<ref>/replay` — replay it where its origin says, or 409 with the reason;
 * - `POST /api/dlq/<ref>/drop` — body `{ "reason": "…" }` (JSON, at most 2 KiB): remove it for good.
 *
 * The work is src/dlq/dead-letters.ts, the same as `accord dlq`'s; every replay and drop is recorded
 * in the audit log. Errors answer `{ code, message, path }` (docs/errors.md): 404 no such letter, 409
 * ambiguous or not replayable, 400 a bad query or body, 503 the broker or Redis away.
 */
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import type { DeadLetters, LetterFilter } from '../dlq/dead-letters.js';
import { asAccordError, AccordError, type ErrorCode } from '../errors.js';

/** An answer of a mounted API: its HTTP status and JSON body. */
export interface ApiAnswer {
  status: number;
  body: unknown;
}

/** Routes the admin server mounts behind its authorisation. */
export interface AdminApi {
  /** Whether the route at `path` takes POST (the server refuses other methods than GET and HEAD). */
  acceptsPost(path: string): boolean;
  /** The answer for `path`, or undefined when it is not one of these routes. */
  handle(req: IncomingMessage, path: string, query: URLSearchParams): Promise<ApiAnswer | undefined>;
}

const MAX_BODY = 2048;
const REF = '([0-9a-z][0-9a-z.-]{7,63})';
const ONE = new RegExp(`^/api/dlq/${REF}$`);
const ACTION = new RegExp(`^/api/dlq/${REF}/(replay|drop)$`);

const Time = z.iso.datetime({ offset: true }).or(z.iso.date());
const Query = z.strictObject({
  code: z
    .string()
    .max(64)
    .regex(/^[a-z_.*]+$/)
    .optional(),
  origin: z.enum(['outbox', 'ingress']).optional(),
  since: Time.optional(),
  until: Time.optional(),
  state: z.enum(['open', 'resolved']).optional(),
});
const DropBody = z.strictObject({ reason: z.string().min(3).max(400) });

const STATUS: Partial<Record<ErrorCode, number>> = {
  'dlq.unknown_letter': 404,
  'dlq.ambiguous_letter': 409,
  'dlq.not_replayable': 409,
  'schema.invalid': 400,
  'input.not_json': 400,
  'input.too_large': 413,
  'infra.unavailable': 503,
};

function failure(err: unknown): ApiAnswer {
  const e = asAccordError(err);
  return { status: STATUS[e.code] ?? 500, body: e.toJSON() };
}

/** Read a small JSON body; nothing larger than {@link MAX_BODY} is read. */
async function jsonBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY)
      throw new AccordError('input.too_large', `the body is larger than ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new AccordError('input.not_json', 'the body is not JSON');
  }
}

function pathOf(issues: z.core.$ZodIssue[]): string {
  return issues[0]?.path.join('.') ?? '';
}

/** The dead letters' routes for the admin server. */
export function dlqApi(letters: DeadLetters): AdminApi {
  return {
    acceptsPost: (path) => ACTION.test(path),
    async handle(req, path, query) {
      try {
        if (path === '/api/dlq') {
          if (req.method === 'POST') return undefined;
          const q = Query.safeParse(Object.fromEntries(query));
          if (!q.success) {
            throw new AccordError('schema.invalid', 'a query parameter is not valid', {
              path: pathOf(q.error.issues),
            });
          }
          const filter: LetterFilter = {
            code: q.data.code,
            origin: q.data.origin,
            since: q.data.since === undefined ? undefined : new Date(q.data.since),
            until: q.data.until === undefined ? undefined : new Date(q.data.until),
            state: q.data.state,
          };
          return { status: 200, body: await letters.list(filter) };
        }
        const one = ONE.exec(path);
        if (one && req.method !== 'POST') return { status: 200, body: await letters.show(one[1]!) };
        const action = ACTION.exec(path);
        if (!action || req.method !== 'POST') return undefined;
        const ref = action[1]!;
        if (action[2] === 'replay') return { status: 200, body: { replayed: await letters.replay(ref) } };
        const body = DropBody.safeParse(await jsonBody(req));
        if (!body.success) {
          throw new AccordError('schema.invalid', 'the body is { "reason": "3 to 400 characters" }', {
            path: pathOf(body.error.issues),
          });
        }
        return { status: 200, body: { dropped: await letters.drop(ref, body.data.reason) } };
      } catch (err) {
        return failure(err);
      }
    },
  };
}
