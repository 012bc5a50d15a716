/**
 * The admin HTTP server: `/healthz` (alive), `/readyz` (each dependency named when failing),
 * `/metrics` (Prometheus text), `/api/alerts` (the alert conditions open now, and the last alerts) and,
 * when the gateway gives it a source, the dashboard: `/` (HTML, dashboard-page.ts) and `/api/summary`
 * (the same facts as JSON, dashboard.ts). Listens on 127.0.0.1 unless configured otherwise.
 *
 * `/healthz` and `/readyz` answer without a token, for a load balancer's probe: `/readyz` then says only
 * which checks pass (`ok`) and which fail (`failing`); with the token it says why each fails. Every
 * other path needs `Authorization: Bearer <token>`, compared in constant time (SHA-256 of both, then
 * `timingSafeEqual`, so neither the content nor the length of the token leaks through timing). GET and
 * HEAD only; no request body is ever read.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { OpenAlert, RecentAlert } from './alerts.js';
import { collectSummary, type DashboardSource } from './dashboard.js';
import { dashboardCsp, renderDashboard } from './dashboard-page.js';

/** One readiness check: resolves when ready, rejects (or resolves with a reason) when not. */
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
  /** The alerts for `/api/alerts`; without them it is 404. */
  alerts?: { openAlerts(): OpenAlert[]; readonly recent: { newestFirst(): RecentAlert[] } };
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export class AdminServer {
  private constructor(
    private readonly server: Server,
    readonly address: AddressInfo,
  ) {}

  static async start(opts: AdminOptions): Promise<AdminServer> {
    const expected = digest(opts.token);
    const authorised = (req: IncomingMessage) => {
      const header = req.headers.authorization ?? '';
      const given = header.startsWith('Bearer ') ? header.slice(7) : '';
      return timingSafeEqual(digest(given), expected);
    };
    const send = (
      res: ServerResponse,
      status: number,
      type: string,
      body: string,
      headers: Record<string, string> = {},
    ) => {
      res.writeHead(status, {
        'content-type': type,
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        ...headers,
      });
      res.end(body);
    };
    const handle = async (req: IncomingMessage, res: ServerResponse) => {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('allow', 'GET, HEAD');
        return send(res, 405, 'text/plain', 'method not allowed\n');
      }
      const path = (req.url ?? '/').split('?')[0]!;
      if (path === '/healthz') return send(res, 200, 'text/plain', 'ok\n');
      const withToken = authorised(req);
      if (path === '/readyz') {
        const checks: Record<string, string> = {};
        for (const [name, check] of Object.entries(opts.checks)) {
          try {
            checks[name] = (await check()) ?? 'ok';
          } catch (err) {
            checks[name] = (err as Error).message || 'failed';
          }
        }
        const failing = Object.entries(checks)
          .filter(([, v]) => v !== 'ok')
          .map(([k]) => k);
        // Without the token, the names of the checks and whether each passes; never why one fails.
        const shown = withToken
          ? checks
          : Object.fromEntries(Object.entries(checks).map(([k, v]) => [k, v === 'ok' ? 'ok' : 'failing']));
        return send(
          res,
          failing.length === 0 ? 200 : 503,
          'application/json',
          `${JSON.stringify({ ready: failing.length === 0, failing, checks: shown })}\n`,
        );
      }
      if (!withToken) {
        res.setHeader('www-authenticate', 'Bearer realm="accord-admin"');
        return send(res, 401, 'text/plain', 'a bearer token is required\n');
      }
      if (path === '/metrics') {
        return send(res, 200, opts.registry.contentType, await opts.registry.metrics());
      }
      if (opts.alerts && path === '/api/alerts') {
        const body = { open: opts.alerts.openAlerts(), recent: opts.alerts.recent.newestFirst() };
        return send(res, 200, 'application/json', `${JSON.stringify(body)}\n`);
      }
      if (opts.dashboard && path === '/api/summary') {
        const summary = await collectSummary(opts.dashboard);
        return send(res, 200, 'application/json', `${JSON.stringify(summary)}\n`);
      }
      if (opts.dashboard && path === '/') {
        const nonce = randomBytes(16).toString('base64');
        const page = renderDashboard(await collectSummary(opts.dashboard), nonce);
        return send(res, 200, 'text/html; charset=utf-8', page, {
          'content-security-policy': dashboardCsp(nonce),
          'x-frame-options': 'DENY',
          'referrer-policy': 'no-referrer',
        });
      }
      return send(res, 404, 'text/plain', 'not found\n');
    };
    const server = createServer({ maxHeaderSize: 8192, requestTimeout: 10_000 }, (req, res) => {
      handle(req, res).catch((err: unknown) => {
        opts.log.error({ err: (err as Error).message }, 'admin request failed');
        if (!res.headersSent) send(res, 500, 'text/plain', 'internal error\n');
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.host, () => resolve());
    });
    const address = server.address() as AddressInfo;
    opts.log.info({ host: address.address, port: address.port }, 'admin server listening');
    return new AdminServer(server, address);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
