/**
 * The console's doors, over real HTTP(S): a login that takes the token once and sets a session cookie
 * (HttpOnly, SameSite=Strict, Secure over TLS), a browser sent to the login page and a script told 401,
 * CSRF on every form, throttled guessing, bounded bodies, and a /readyz that a probe can read without
 * the token. The pages' sources are small in-test lists here; test/dashboard.test.ts drives the same
 * server inside a running gateway.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:https';
import { Registry } from 'prom-client';
import { AccordError } from '../src/errors.js';
import { AdminServer } from '../src/admin/server.js';
import type { ConsoleSource, LetterRow } from '../src/admin/console-pages.js';
import { LoginThrottle, SessionStore, cookieValue } from '../src/admin/session.js';
import { memoryLogger } from './helpers/harness.js';

const TOKEN = 'test-only-console-token-0123456789abcdef';
const HTML = { accept: 'text/html,application/xhtml+xml' };

interface Acted {
  verb: string;
  ref: string;
  actor: string;
}

function source(acted: Acted[]): ConsoleSource {
  const letters: LetterRow[] = [
    { ref: 'letter-0001', origin: 'outbox', code: 'delivery.no_receipt', messageId: 'm-1' },
    {
      ref: 'letter-0002',
      origin: 'ingress',
      code: 'crypto.bad_signature',
      replayRefused: 'a bad signature stays bad',
    },
  ];
  return {
    messages: (q) => {
      if (q.get('status') === 'nonsense') {
        return Promise.reject(new AccordError('schema.invalid', 'unknown status', { path: 'status' }));
      }
      return Promise.resolve({
        items: [
          {
            id: 'm-1',
            at: '2026-12-04T10:00:00.000Z',
            direction: 'out',
            kind: 'request',
            status: 'delivered',
            from: 'CZ/cz-pp-ipc',
            to: 'KZ/kz-mia',
          },
        ],
      });
    },
    trace: (id) => Promise.resolve(id === 'm-1' ? { messageId: id, steps: [] } : undefined),
    deadLetters: {
      list: () => Promise.resolve(letters),
      replay: (ref, actor) => {
        const l = letters.find((x) => x.ref === ref);
        if (!l) return Promise.reject(new AccordError('schema.invalid', `no letter ${ref}`));
        if (l.replayRefused) return Promise.reject(new AccordError('delivery.poison', l.replayRefused));
        acted.push({ verb: 'replay', ref, actor });
        return Promise.resolve('re-submitted to the outbox');
      },
      drop: (ref, actor, reason) => {
        if (reason.length < 3) return Promise.reject(new AccordError('schema.invalid', 'give a reason'));
        acted.push({ verb: 'drop', ref, actor });
        return Promise.resolve('dropped');
      },
    },
  };
}

async function start(extra: Partial<Parameters<typeof AdminServer.start>[0]> = {}) {
  const logger = memoryLogger();
  const acted: Acted[] = [];
  let ready = true;
  const server = await AdminServer.start({
    host: '127.0.0.1',
    port: 0,
    token: TOKEN,
    registry: new Registry(),
    checks: {
      redis: () => Promise.resolve(undefined),
      keys: () => Promise.resolve(ready ? undefined : 'crypto.key_revoked: kid cz-sig-2026 (secret reason)'),
    },
    log: logger.log,
    console: source(acted),
    ...extra,
  });
  const scheme = extra.tls ? 'https' : 'http';
  const base = `${scheme}://127.0.0.1:${server.address.port}`;
  return { server, base, acted, logger, setReady: (r: boolean) => (ready = r) };
}

const form = (fields: Record<string, string>) => ({
  method: 'POST',
  redirect: 'manual' as const,
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
});

async function login(base: string, token = TOKEN): Promise<Response> {
  return fetch(`${base}/login`, form({ token }));
}

const sessionFrom = (res: Response) => cookieValue(res.headers.get('set-cookie') ?? '', 'accord_session');

/** The CSRF token a page carries in its forms. */
async function csrfOf(base: string, cookie: string): Promise<string> {
  const page = await (await fetch(`${base}/dead-letters`, { headers: { cookie } })).text();
  const m = /name="csrf" value="([^"]+)"/.exec(page);
  expect(m, 'a CSRF field in the page').not.to.equal(null);
  return m![1]!;
}

describe('admin console: login, session cookie, CSRF, probes', function () {
  this.timeout(30_000);
  let s: Awaited<ReturnType<typeof start>>;

  beforeEach(async () => {
    s = await start();
  });
  afterEach(async () => {
    await s.server.close();
  });

  it('sends a browser without a session to /login, and tells a script 401', async () => {
    const browser = await fetch(`${s.base}/messages`, { headers: HTML, redirect: 'manual' });
    expect(browser.status).to.equal(303);
    expect(browser.headers.get('location')).to.equal('/login');
    for (const path of ['/messages', '/api/messages', '/metrics', '/api/dlq']) {
      expect((await fetch(`${s.base}${path}`)).status, path).to.equal(401);
    }
    const page = await fetch(`${s.base}/login`);
    expect(page.status).to.equal(200);
    expect(await page.text()).to.contain('name="token"');
    expect(page.headers.get('content-security-policy')).to.contain("form-action 'self'");
  });

  it('logs in with the token once: an HttpOnly, SameSite=Strict cookie that opens the pages and the API', async () => {
    const res = await login(s.base);
    expect(res.status).to.equal(303);
    expect(res.headers.get('location')).to.equal('/');
    const cookie = res.headers.get('set-cookie')!;
    expect(cookie).to.match(/^accord_session=[A-Za-z0-9_-]{43}; /);
    expect(cookie).to.contain('HttpOnly');
    expect(cookie).to.contain('SameSite=Strict');
    expect(cookie).to.match(/Max-Age=\d+/);
    expect(cookie, 'plain HTTP without a TLS proxy').not.to.contain('Secure');
    const jar = `accord_session=${sessionFrom(res)}`;
    const page = await fetch(`${s.base}/messages?authority=cz-pp-ipc`, { headers: { cookie: jar } });
    expect(page.status).to.equal(200);
    const text = await page.text();
    expect(text).to.contain('data-message-id="m-1"');
    expect(text).to.contain('href="/messages/m-1"');
    expect(
      (await fetch(`${s.base}/api/summary`, { headers: { cookie: jar } })).status,
      'no dashboard here',
    ).to.equal(404);
    expect((await fetch(`${s.base}/metrics`, { headers: { cookie: jar } })).status).to.equal(200);
    const trace = await fetch(`${s.base}/messages/m-1`, { headers: { cookie: jar } });
    expect(await trace.text()).to.contain('accord trace m-1');
    expect((await fetch(`${s.base}/messages/m-2`, { headers: { cookie: jar } })).status).to.equal(404);
    // A forged or stale cookie opens nothing.
    const forged = await fetch(`${s.base}/metrics`, {
      headers: { cookie: 'accord_session=x'.repeat(2) },
    });
    expect(forged.status).to.equal(401);
  });

  it('refuses a wrong token with a coded log line that never holds it', async () => {
    const res = await login(s.base, `${TOKEN}-wrong`);
    expect(res.status).to.equal(401);
    expect(res.headers.get('set-cookie')).to.equal(null);
    expect(await res.text()).to.contain('not accepted');
    const logged = s.logger.lines.join('');
    expect(logged).to.contain('admin.login_failed');
    expect(logged).not.to.contain(TOKEN);
  });

  it('throttles guessing: after five failures even the right token waits, with Retry-After', async () => {
    for (let i = 0; i < 5; i++) expect((await login(s.base, `guess-${i}`)).status).to.equal(401);
    const blocked = await login(s.base);
    expect(blocked.status).to.equal(429);
    expect(Number(blocked.headers.get('retry-after'))).to.be.greaterThan(0);
    expect(blocked.headers.get('set-cookie')).to.equal(null);
    expect(s.logger.lines.join('')).to.contain('admin.login_throttled');
  });

  it('acts on a form only with the session CSRF token from its own origin; a script with the bearer needs none', async () => {
    const jar = `accord_session=${sessionFrom(await login(s.base))}`;
    const csrf = await csrfOf(s.base, jar);
    const post = (path: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
      fetch(`${s.base}${path}`, {
        ...form(fields),
        headers: { ...form(fields).headers, cookie: jar, ...headers },
      });
    expect((await post('/dead-letters/letter-0001/drop', {})).status, 'no token').to.equal(403);
    expect(
      (await post('/dead-letters/letter-0001/drop', { csrf: `${csrf}x` })).status,
      'wrong token',
    ).to.equal(403);
    expect(
      (await post('/dead-letters/letter-0001/drop', { csrf }, { origin: 'https://evil.example' })).status,
      'foreign origin',
    ).to.equal(403);
    expect(s.acted).to.deep.equal([]);
    expect(s.logger.lines.join('')).to.contain('admin.csrf_refused');
    const ok = await post('/dead-letters/letter-0001/replay', { csrf }, { origin: s.base });
    expect(ok.status).to.equal(303);
    expect(decodeURIComponent(ok.headers.get('location')!)).to.contain(
      'replay letter-0001: re-submitted to the outbox',
    );
    const refused = await post('/dead-letters/letter-0002/replay', { csrf });
    expect(decodeURIComponent(refused.headers.get('location')!)).to.contain('a bad signature stays bad');
    // A script with the bearer token posts the same form without a CSRF token; a drop needs its reason.
    const api = await fetch(`${s.base}/dead-letters/letter-0001/drop`, {
      ...form({ reason: 'duplicate of a resolved case' }),
      headers: { ...form({}).headers, authorization: `Bearer ${TOKEN}` },
    });
    expect(api.status).to.equal(303);
    expect(decodeURIComponent(api.headers.get('location')!)).to.contain('drop letter-0001: dropped');
    expect(s.acted).to.deep.equal([
      { verb: 'replay', ref: 'letter-0001', actor: 'console' },
      { verb: 'drop', ref: 'letter-0001', actor: 'bearer' },
    ]);
  });

  it('logs out (with the CSRF token): the cookie is cleared and the session opens nothing any more', async () => {
    const id = sessionFrom(await login(s.base))!;
    const jar = `accord_session=${id}`;
    const csrf = await csrfOf(s.base, jar);
    const res = await fetch(`${s.base}/logout`, {
      ...form({ csrf }),
      headers: { ...form({}).headers, cookie: jar },
    });
    expect(res.status).to.equal(303);
    expect(res.headers.get('location')).to.equal('/login');
    expect(res.headers.get('set-cookie')).to.contain('Max-Age=0');
    expect((await fetch(`${s.base}/metrics`, { headers: { cookie: jar } })).status).to.equal(401);
    expect(s.server.sessions.size).to.equal(0);
  });

  it('refuses a body over 4 KiB (413) and a body of another type (400) without acting', async () => {
    const big = await fetch(`${s.base}/login`, form({ token: 'x'.repeat(5000) }));
    expect(big.status).to.equal(413);
    const xml = await fetch(`${s.base}/login`, {
      method: 'POST',
      headers: { 'content-type': 'text/xml' },
      body: '<token/>',
    });
    expect(xml.status).to.equal(400);
    expect(await xml.text()).to.match(/^schema\.invalid: /);
  });

  it('answers /readyz without a token with the verdict and the failing names only', async () => {
    const open = await fetch(`${s.base}/readyz`);
    expect(open.status).to.equal(200);
    expect(await open.json()).to.deep.equal({
      ready: true,
      failing: [],
      checks: { redis: 'ok', keys: 'ok' },
    });
    s.setReady(false);
    const probe = await fetch(`${s.base}/readyz`);
    expect(probe.status).to.equal(503);
    expect(await probe.json()).to.deep.equal({
      ready: false,
      failing: ['keys'],
      checks: { redis: 'ok', keys: 'failing' },
    });
    const full = await fetch(`${s.base}/readyz`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(((await full.json()) as { checks: Record<string, string> }).checks.keys).to.contain('key_revoked');
  });

  it('reports a bad message-log filter on the page with its code', async () => {
    const jar = `accord_session=${sessionFrom(await login(s.base))}`;
    const res = await fetch(`${s.base}/messages?status=nonsense`, { headers: { cookie: jar } });
    expect(res.status).to.equal(400);
    expect(await res.text()).to.contain('schema.invalid: unknown status');
  });
});

describe('admin console over TLS', function () {
  this.timeout(30_000);

  it('serves HTTPS with the configured certificate and marks the session cookie Secure', async function () {
    const dir = mkdtempSync(join(tmpdir(), 'accord-console-tls-'));
    try {
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:P-256',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=127.0.0.1',
          '-addext',
          'subjectAltName=IP:127.0.0.1',
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
        ],
        { stdio: 'ignore' },
      );
    } catch {
      rmSync(dir, { recursive: true, force: true });
      console.log('      (openssl is not installed: apt-get install -y openssl)');
      this.skip();
    }
    const cert = readFileSync(join(dir, 'cert.pem'));
    const key = readFileSync(join(dir, 'key.pem'));
    rmSync(dir, { recursive: true, force: true });
    const s = await start({ tls: { cert, key } });
    try {
      const setCookie = await new Promise<string | undefined>((resolve, reject) => {
        const req = request(
          `${s.base}/login`,
          { method: 'POST', ca: cert, headers: { 'content-type': 'application/x-www-form-urlencoded' } },
          (res) => {
            res.resume();
            expect(res.statusCode).to.equal(303);
            resolve(res.headers['set-cookie']?.[0]);
          },
        );
        req.on('error', reject);
        req.end(`token=${TOKEN}`);
      });
      expect(setCookie).to.match(/; Secure$/);
    } finally {
      await s.server.close();
    }
  });

  it('marks the cookie Secure behind a TLS proxy when configured (secureCookies)', async () => {
    const s = await start({ secureCookies: true });
    try {
      expect((await login(s.base)).headers.get('set-cookie')).to.contain('Secure');
    } finally {
      await s.server.close();
    }
  });
});

describe('admin console: sessions and throttle (unit)', () => {
  it('ends a session after the idle time, after the absolute time, and keeps at most the configured number', () => {
    let now = 0;
    const store = new SessionStore({ idleMs: 1000, maxMs: 5000, maxSessions: 2, now: () => now });
    const a = store.create();
    now = 900;
    expect(store.get(a.id)).to.equal(a.session);
    now = 1800;
    expect(store.get(a.id), 'used 900 ms ago').to.equal(a.session);
    now = 2900;
    expect(store.get(a.id), 'idle for 1100 ms').to.equal(undefined);
    const b = store.create();
    for (let t = 3000; t <= 8000; t += 500) {
      now = t;
      if (t - 2900 <= 5000) expect(store.get(b.id), `at ${t}`).to.equal(b.session);
      else expect(store.get(b.id), `at ${t}`).to.equal(undefined);
    }
    const c = store.create();
    const d = store.create();
    const e = store.create();
    expect(store.get(c.id), 'the oldest went first').to.equal(undefined);
    expect(store.get(d.id)).to.equal(d.session);
    expect(store.get(e.id)).to.equal(e.session);
    expect(d.session.csrf).not.to.equal(e.session.csrf);
  });

  it('lets an address try again once its failures leave the window', () => {
    let now = 0;
    const t = new LoginThrottle(3, 60_000, () => now);
    for (let i = 0; i < 3; i++) t.fail('10.0.0.1');
    expect(t.retryAfterS('10.0.0.1')).to.equal(60);
    expect(t.retryAfterS('10.0.0.2')).to.equal(0);
    now = 60_001;
    expect(t.retryAfterS('10.0.0.1')).to.equal(0);
  });

  it('reads one cookie from a Cookie header and nothing from an oversized one', () => {
    expect(cookieValue('a=1; accord_session=xyz; b=2', 'accord_session')).to.equal('xyz');
    expect(cookieValue('accord_sessionx=1', 'accord_session')).to.equal(undefined);
    expect(cookieValue(`accord_session=${'x'.repeat(9000)}`, 'accord_session')).to.equal(undefined);
  });
});
