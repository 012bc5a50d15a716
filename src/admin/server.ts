/**
 * The admin HTTP(S) server.
 *
 * - `/healthz` (alive) and `/readyz` (ready or not, and the names of the failing checks) answer
 *   without a token, for load-balancer probes; `/readyz` gives each check's reason only with it.
 * - `/metrics` (Prometheus text) and `/api/…` (JSON: the summary, alerts, message log, dead letters) need `Authorization: Bearer <token>`, compared in
 *   constant time, or a console session.
 * - The console (`/`, `/messages`, `/dead-letters`, …) is for people: `/login` takes the token once and
 *   sets an HttpOnly, SameSite=Strict session cookie (Secure over TLS); a page opened without one sends
 *   the browser to `/login`. Every POST made with the cookie carries the session's CSRF token and, when
 *   the browser sends an Origin, comes from this server's own origin. Requests with the bearer header
 *   (scripts) need neither: the header is not ambient like a cookie.
 *
 * Listens on 127.0.0.1 unless configured otherwise. Request bodies are read only for POST, only
 * form-encoded or JSON, and at most 4 KiB.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { AccordError } from '../errors.js';
import type { OpenAlert, RecentAlert } from './alerts.js';
import { collectSummary, type DashboardSource } from './dashboard.js';
import type { AdminApi } from './dlq-api.js';
import { messageLogRoute, type MessageLogSource } from './message-routes.js';
import { renderDashboard } from './dashboard-page.js';
import {
  consoleCsp,
  renderDeadLetters,
  renderLogin,
  renderMessages,
  renderTrace,
  type ConsoleSource,
  type MessagePage,
  type Readiness,
} from './console-pages.js';
import {
  COOKIE,
  LoginThrottle,
  SessionStore,
  clearedCookie,
  cookieValue,
  sameSecret,
  sessionCookie,
  type Session,
} from './session.js';

/** One readiness check: resolves with undefined when ready, or with (or rejects with) the reason. */
export type ReadinessCheck = () => Promise<string | undefined>;

export interface AdminOptions {
  host: string;
  port: number;
  /** The bearer token (at least 32 characters). */
  token: string;
  registry: Registry;
  /** Named checks for /readyz, in order. */
  checks: Record<string, ReadinessCheck>;
  log: Logger;
  /** What the dashboard shows; without it `/` and `/api/summary` are 404. */
  dashboard?: DashboardSource;
  /** The message log, traces and dead letters of the console; each page is 404 without its source. */
  console?: ConsoleSource;
  /** More JSON routes behind the same authorisation (the dead letters, dlq-api.ts); they may take POST. */
  api?: AdminApi;
  /** The message log, `/api/messages` and `/api/trace/<id>` (message-routes.ts); without it they are 404. */
  messageLog?: MessageLogSource;
  /** Serve HTTPS with this certificate (PEM); the session cookie is then `Secure`. */
  tls?: { cert: Buffer; key: Buffer };
  /** Mark the cookie `Secure` although this server speaks HTTP (a TLS proxy stands in front). */
  secureCookies?: boolean;
  /** Session lifetime: idle and absolute, in seconds. */
  session?: { idleS: number; maxS: number };
  /** The alerts for `/api/alerts`; without them it is 404. */
  alerts?: { openAlerts(): OpenAlert[]; readonly recent: { newestFirst(): RecentAlert[] } };
}

const MAX_BODY = 4096;
/** A console form acting on one dead letter. */
const CONSOLE_ACTION = /^\/dead-letters\/([0-9a-z][0-9a-z.-]{7,63})\/(replay|drop)$/;
/** Paths that only read. */
const READ_ONLY = new Set([
  '/',
  '/healthz',
  '/readyz',
  '/metrics',
  '/messages',
  '/dead-letters',
  '/api/summary',
  '/api/messages',
  '/api/dlq',
  '/api/alerts',
]);
const LOGIN_FAILURES = 5;
const LOGIN_WINDOW_MS = 5 * 60_000;

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Run every check; the reasons stay on the server side unless the caller may see them. */
export async function runChecks(checks: Record<string, ReadinessCheck>): Promise<Readiness> {
  const results: Record<string, string> = {};
  await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      try {
        results[name] = (await check()) ?? 'ok';
      } catch (err) {
        results[name] = (err as Error).message || 'failed';
      }
    }),
  );
  const ordered = Object.keys(checks).map((k) => [k, results[k]!] as const);
  const failing = ordered.filter(([, v]) => v !== 'ok').map(([k]) => k);
  return { ready: failing.length === 0, failing, checks: Object.fromEntries(ordered) };
}

/** Read a small request body; rejects (413) past MAX_BODY. */
async function readBody(req: IncomingMessage): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > MAX_BODY) throw new AccordError('input.too_large', `the body exceeds ${MAX_BODY} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new AccordError('input.too_large', `the body exceeds ${MAX_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The fields of a form-encoded or JSON body (strings only). */
function fieldsOf(req: IncomingMessage, body: string): Record<string, string> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (body === '') return {};
  if (type === 'application/x-www-form-urlencoded') return Object.fromEntries(new URLSearchParams(body));
  if (type === 'application/json') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      throw new AccordError('schema.invalid', 'the body is not JSON');
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new AccordError('schema.invalid', 'the body is not a JSON object');
    }
    return Object.fromEntries(
      Object.entries(parsed as Record<string, unknown>).filter(([, v]) => typeof v === 'string') as [
        string,
        string,
      ][],
    );
  }
  throw new AccordError('schema.invalid', 'send application/x-www-form-urlencoded or application/json');
}

const HTML_HEADERS = (nonce: string) => ({
  'content-security-policy': consoleCsp(nonce),
  'x-frame-options': 'DENY',
  // same-origin, not no-referrer: with no-referrer a browser sends `Origin: null` on the console's own
  // forms, and the CSRF check could not tell them from a foreign page's. Nothing leaves for other sites.
  'referrer-policy': 'same-origin',
});

export class AdminServer {
  private constructor(
    private readonly server: Server,
    readonly address: AddressInfo,
    readonly sessions: SessionStore,
  ) {}

  static async start(opts: AdminOptions): Promise<AdminServer> {
    const expected = digest(opts.token);
    const secure = opts.tls !== undefined || opts.secureCookies === true;
    const lifetime = opts.session ?? { idleS: 30 * 60, maxS: 8 * 3600 };
    const sessions = new SessionStore({
      idleMs: lifetime.idleS * 1000,
      maxMs: lifetime.maxS * 1000,
      maxSessions: 100,
    });
    const throttle = new LoginThrottle(LOGIN_FAILURES, LOGIN_WINDOW_MS);
    const bearer = (req: IncomingMessage) => {
      const header = req.headers.authorization;
      if (header === undefined) return false;
      const given = header.startsWith('Bearer ') ? header.slice(7) : '';
      return timingSafeEqual(digest(given), expected);
    };
    const sessionOf = (req: IncomingMessage): { id: string; session: Session } | undefined => {
      const id = cookieValue(req.headers.cookie, COOKIE);
      const session = sessions.get(id);
      return session && id !== undefined ? { id, session } : undefined;
    };
    const send = (
      res: ServerResponse,
      status: number,
      type: string,
      body: string,
      headers: Record<string, string | string[]> = {},
    ) => {
      res.writeHead(status, {
        'content-type': type,
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        ...headers,
      });
      res.end(body);
    };
    const json = (res: ServerResponse, status: number, value: unknown) =>
      send(res, status, 'application/json', `${JSON.stringify(value)}\n`);
    const page = (res: ServerResponse, status: number, render: (nonce: string) => string, extra = {}) => {
      const nonce = randomBytes(16).toString('base64');
      send(res, status, 'text/html; charset=utf-8', render(nonce), { ...HTML_HEADERS(nonce), ...extra });
    };
    const redirect = (res: ServerResponse, to: string, headers: Record<string, string | string[]> = {}) =>
      send(res, 303, 'text/plain', `see ${to}\n`, { location: to, ...headers });
    const ownOrigin = (req: IncomingMessage) => `${secure ? 'https' : 'http'}://${req.headers.host ?? ''}`;
    const remote = (req: IncomingMessage) => req.socket.remoteAddress ?? 'unknown';

    const login = async (req: IncomingMessage, res: ServerResponse) => {
      const wait = throttle.retryAfterS(remote(req));
      if (wait > 0) {
        opts.log.warn(
          { code: 'admin.login_throttled', from: remote(req) },
          'console login refused: too many failures',
        );
        return page(res, 429, (n) => renderLogin(n, `Too many failed attempts: try again in ${wait} s.`), {
          'retry-after': String(wait),
        });
      }
      const fields = fieldsOf(req, await readBody(req));
      const given = fields.token ?? '';
      if (!timingSafeEqual(digest(given), expected)) {
        throttle.fail(remote(req));
        opts.log.warn({ code: 'admin.login_failed', from: remote(req) }, 'console login failed');
        return page(res, 401, (n) => renderLogin(n, 'That token was not accepted.'));
      }
      throttle.succeed(remote(req));
      const { id } = sessions.create();
      opts.log.info({ from: remote(req) }, 'console login');
      return redirect(res, '/', { 'set-cookie': sessionCookie(id, lifetime.maxS, secure) });
    };

    const handle = async (req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url ?? '/', 'http://admin.invalid');
      const path = url.pathname;
      const method = req.method ?? 'GET';
      const reading = method === 'GET' || method === 'HEAD';
      const apiPost = path.startsWith('/api/') && opts.api?.acceptsPost(path) === true;
      const formPost = path === '/login' || path === '/logout' || CONSOLE_ACTION.test(path);
      if (!reading && (method !== 'POST' || !(apiPost || formPost))) {
        res.setHeader('allow', READ_ONLY.has(path) ? 'GET, HEAD' : 'GET, HEAD, POST');
        return send(res, 405, 'text/plain', 'method not allowed\n');
      }
      if (path === '/healthz' && reading) return send(res, 200, 'text/plain', 'ok\n');
      const byBearer = bearer(req);
      const current = byBearer ? undefined : sessionOf(req);
      const authorised = byBearer || current !== undefined;
      if (path === '/readyz' && reading) {
        const r = await runChecks(opts.checks);
        // Without credentials: the names of the checks and whether each passes; never why one fails.
        const shown = authorised
          ? r
          : {
              ...r,
              checks: Object.fromEntries(
                Object.entries(r.checks).map(([k, v]) => [k, v === 'ok' ? 'ok' : 'failing']),
              ),
            };
        return json(res, r.ready ? 200 : 503, shown);
      }
      if (path === '/login') {
        if (reading) return page(res, 200, (n) => renderLogin(n));
        return login(req, res);
      }
      // A browser (it asks for HTML) goes to the login page; a script gets 401.
      const wantsHtml = reading && (req.headers.accept ?? '').includes('text/html');
      if (!authorised) {
        if (wantsHtml && (opts.dashboard || opts.console)) return redirect(res, '/login');
        res.setHeader('www-authenticate', 'Bearer realm="accord-admin"');
        return send(res, 401, 'text/plain', 'a bearer token or a console session is required\n');
      }
      let fields: Record<string, string> = {};
      if (!reading) {
        // A JSON API reads its own body; a console form's fields are read here.
        if (formPost) fields = fieldsOf(req, await readBody(req));
        if (current) {
          const origin = req.headers.origin;
          const token = (formPost ? fields.csrf : (req.headers['x-csrf-token'] as string | undefined)) ?? '';
          if (
            (origin !== undefined && origin !== ownOrigin(req)) ||
            !sameSecret(token, current.session.csrf)
          ) {
            opts.log.warn({ code: 'admin.csrf_refused', path }, 'console request refused: CSRF check failed');
            return send(
              res,
              403,
              'text/plain',
              'the form is stale or came from elsewhere: reload the page\n',
            );
          }
        }
      }
      const csrf = current?.session.csrf;
      const actor = current ? 'console' : 'bearer';

      if (path === '/logout' && !reading) {
        sessions.end(current?.id);
        return redirect(res, '/login', { 'set-cookie': clearedCookie(secure) });
      }
      if (path === '/metrics' && reading) {
        return send(res, 200, opts.registry.contentType, await opts.registry.metrics());
      }
      if (opts.alerts && path === '/api/alerts' && reading) {
        return json(res, 200, { open: opts.alerts.openAlerts(), recent: opts.alerts.recent.newestFirst() });
      }
      if (opts.dashboard && path === '/api/summary' && reading) {
        return json(res, 200, await collectSummary(opts.dashboard, () => runChecks(opts.checks)));
      }
      if (opts.dashboard && path === '/' && reading) {
        const summary = await collectSummary(opts.dashboard, () => runChecks(opts.checks));
        return page(res, 200, (n) => renderDashboard(summary, n, csrf));
      }
      const c = opts.console;
      if (c?.messages && path === '/messages' && reading) {
        let result: MessagePage | undefined;
        let error: string | undefined;
        try {
          result = await c.messages(url.searchParams);
        } catch (err) {
          if (!(err instanceof AccordError)) throw err;
          error = `${err.code}: ${err.message}`;
        }
        return page(res, error ? 400 : 200, (n) => renderMessages(n, csrf, url.searchParams, result, error));
      }
      const traced = /^\/messages\/([A-Za-z0-9._:-]{1,200})$/.exec(path);
      if (c?.trace && traced && reading) {
        const t = await c.trace(traced[1]!);
        return page(res, t === undefined ? 404 : 200, (n) => renderTrace(n, csrf, traced[1]!, t));
      }
      if (opts.messageLog && reading && path.startsWith('/api/')) {
        const answer = await messageLogRoute(opts.messageLog, req.url ?? '/');
        if (answer) return send(res, answer.status, 'application/json', answer.body);
      }
      if (opts.api && path.startsWith('/api/')) {
        const answer = await opts.api.handle(req, path, url.searchParams);
        if (answer) return json(res, answer.status, answer.body);
      }
      const d = c?.deadLetters;
      if (d && path === '/dead-letters' && reading) {
        const letters = await d.list(url.searchParams);
        return page(res, 200, (n) =>
          renderDeadLetters(n, csrf, letters, url.searchParams.get('done') ?? undefined),
        );
      }
      const action = CONSOLE_ACTION.exec(path);
      if (d && action && !reading) {
        const [, ref, verb] = action as unknown as [string, string, 'replay' | 'drop'];
        let done: string;
        try {
          const outcome =
            verb === 'replay' ? await d.replay(ref, actor) : await d.drop(ref, actor, fields.reason ?? '');
          opts.log.info({ ref, action: verb, by: actor }, 'dead letter acted on');
          done = `${verb} ${ref}: ${outcome}`;
        } catch (err) {
          if (!(err instanceof AccordError)) throw err;
          done = `${verb} ${ref} refused: ${err.code}: ${err.message}`;
        }
        return redirect(res, `/dead-letters?done=${encodeURIComponent(done)}`);
      }
      return send(res, 404, 'text/plain', 'not found\n');
    };

    const listener = (req: IncomingMessage, res: ServerResponse) => {
      handle(req, res).catch((err: unknown) => {
        if (err instanceof AccordError && (err.code === 'input.too_large' || err.code === 'schema.invalid')) {
          if (!res.headersSent)
            send(
              res,
              err.code === 'input.too_large' ? 413 : 400,
              'text/plain',
              `${err.code}: ${err.message}\n`,
            );
          return;
        }
        opts.log.error({ err: (err as Error).message }, 'admin request failed');
        if (!res.headersSent) send(res, 500, 'text/plain', 'internal error\n');
      });
    };
    const serverOptions = { maxHeaderSize: 8192, requestTimeout: 10_000 };
    const server: Server = opts.tls
      ? createHttpsServer({ ...serverOptions, cert: opts.tls.cert, key: opts.tls.key }, listener)
      : createServer(serverOptions, listener);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.host, () => resolve());
    });
    const address = server.address() as AddressInfo;
    opts.log.info(
      { host: address.address, port: address.port, tls: opts.tls !== undefined },
      'admin server listening',
    );
    return new AdminServer(server, address, sessions);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
