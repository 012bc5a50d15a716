/**
 * The admin dashboard in a real browser: Debian's Chromium driven by playwright-core, against
 * two real gateways on the real broker and Redis. The page must show the gateway's actual state and
 * follow real traffic, list refusals and alerts without their content, and be closed without the token.
 */
import { expect } from 'chai';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { SubmissionInput } from '../src/client/index.js';
import { Gateway } from '../src/gateway.js';
import { Summary } from '../src/admin/dashboard.js';
import { renderDashboard } from '../src/admin/dashboard-page.js';
import { ROOT, example, memoryLogger, startPair, type Pair, type TestAuthority } from './helpers/harness.js';

const TOKEN = 'test-only-admin-token-dashboard-0123456789';
/** A refusal explanation the page must never show (it may carry case detail). */
const EXPLANATION = 'EXPLANATION-NEVER-ON-THE-DASHBOARD special techniques go through the Ministry';
const CHROMIUM = process.env.ACCORD_CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOT = join(ROOT, 'test-output', 'dashboard.png');

const kidsOf = (file: string) =>
  (JSON.parse(readFileSync(join(ROOT, file), 'utf8')) as { keys: { kid: string }[] }).keys.map((k) => k.kid);

describe('admin/dashboard: the page in a real browser', function () {
  this.timeout(120_000);
  let pair: Pair;
  let base: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let czIpc: TestAuthority;
  let kzMia: TestAuthority;
  let kzRestarted: Gateway | undefined;
  const consoleErrors: string[] = [];

  before(async () => {
    process.env.ACCORD_TEST_DASHBOARD_TOKEN = TOKEN;
    pair = await startPair((raw) => {
      if (raw.party !== 'CZ') return;
      raw.admin = { port: 0, tokenEnv: 'ACCORD_TEST_DASHBOARD_TOKEN' };
      raw.policy = {
        ...raw.policy,
        refusalRules: [
          {
            id: 'dash-no-special-techniques',
            when: { assistanceTypes: ['special-techniques'] },
            decision: 'refuse',
            grounds: ['national-legislation'],
            explanation: EXPLANATION,
          },
        ],
      };
    });
    const address = pair.cz.adminAddress!;
    base = `http://${address.address}:${address.port}`;
    czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
    kzMia = await pair.authority(pair.kzConfig, 'kz-mia');
    // Never a browser download: the Debian package, headless, with nothing that calls out.
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    context = await browser.newContext({
      extraHTTPHeaders: { authorization: `Bearer ${TOKEN}` },
      viewport: { width: 1400, height: 1000 },
    });
    page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
  });

  after(async () => {
    await context?.close();
    await browser?.close();
    await kzRestarted?.stop();
    await pair?.close();
  });

  /** Load the dashboard and return its facts as the page shows them. */
  async function load(): Promise<void> {
    const res = await page.goto(`${base}/`);
    expect(res?.status()).to.equal(200);
  }
  const fact = async (name: string) => (await page.locator(`[data-fact="${name}"]`).innerText()).trim();
  const count = async (key: string) => {
    const cell = page.locator(`tr[data-key="${key}"] td.count`);
    return (await cell.count()) === 0 ? 0 : Number(await cell.innerText());
  };
  /** Reload until `check` holds on the page (the page itself reloads every few seconds too). */
  async function reloadUntil(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await load();
      if (await check()) return;
      if (Date.now() > deadline) throw new Error(`the dashboard never showed ${what}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  const summary = async () => {
    const res = await fetch(`${base}/api/summary`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).to.equal(200);
    return Summary.parse(await res.json());
  };

  it('sends a browser without a session to the login page, and answers 401 to a script', async () => {
    const anonymous = await browser.newContext();
    try {
      const p = await anonymous.newPage();
      for (const path of ['/', '/api/summary']) {
        const res = await p.goto(`${base}${path}`);
        expect(new URL(p.url()).pathname, path).to.equal('/login');
        expect(res?.status(), path).to.equal(200);
        expect(await p.content(), path).not.to.contain('data-fact');
      }
    } finally {
      await anonymous.close();
    }
    for (const path of ['/', '/api/summary']) {
      expect((await fetch(`${base}${path}`)).status, path).to.equal(401);
      const wrong = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${TOKEN}x` } });
      expect(wrong.status, path).to.equal(401);
    }
  });

  it('renders every section from the running gateway, under a strict CSP that its own style passes', async () => {
    const res = await page.goto(`${base}/`);
    expect(res?.status()).to.equal(200);
    const headers = res!.headers();
    expect(headers['content-type']).to.equal('text/html; charset=utf-8');
    const csp = headers['content-security-policy']!;
    expect(csp).to.contain("default-src 'none'");
    expect(csp).to.match(/style-src 'nonce-[A-Za-z0-9+/=]{20,}'/);
    expect(csp).not.to.contain('unsafe-inline');
    expect(headers['x-frame-options']).to.equal('DENY');
    for (const id of [
      'links',
      'in-flight',
      'backlogs',
      'failed',
      'throughput-out',
      'throughput-in',
      'refusals',
      'reviews',
      'alerts',
      'keys',
      'suspensions',
    ]) {
      expect(await page.locator(`section#${id} h2`).count(), id).to.equal(1);
    }
    expect(await fact('party')).to.equal('CZ');
    expect(await page.locator('[data-fact="peer-link"] td[data-value]').getAttribute('data-value')).to.equal(
      'up',
    );
    expect(
      await page.locator('[data-fact="local-broker"] td[data-value]').getAttribute('data-value'),
    ).to.equal('up');
    expect(await fact('dlq-depth')).to.equal('0');
    expect(await fact('failed')).to.equal('0');
    expect(await fact('reviews-pending')).to.equal('0');
    expect(await fact('suspended-now')).to.equal('Nothing is suspended.');
    // Every key of both pinned sets, by kid, with its state; no key material anywhere on the page.
    for (const kid of [
      ...kidsOf('certs-example/cz/public.jwks.json'),
      ...kidsOf('certs-example/kz/public.jwks.json'),
    ]) {
      const row = page.locator(`#keys tr[data-kid="${kid}"]`);
      expect(await row.count(), kid).to.equal(1);
      expect(await row.innerText(), kid).to.contain('active');
    }
    const html = await page.content();
    for (const field of ['"d":', '"x":', '"k":', 'private']) expect(html).not.to.contain(field);
    // No script at all, and the nonce'd style applied (a CSP block would leave the default border).
    expect(await page.locator('script').count()).to.equal(0);
    // (Evaluated in the page: the DOM's types are not part of this project's compilation.)
    const radius = await page.evaluate<string>(
      "getComputedStyle(document.querySelector('section#links')).borderTopLeftRadius",
    );
    expect(radius).to.equal('6px');
    expect(consoleErrors, consoleErrors.join('\n')).to.deep.equal([]);
  });

  it('reloads by itself every few seconds', async () => {
    await load();
    const first = await fact('generated-at');
    await page.waitForEvent('load', { timeout: 15_000 });
    expect(await fact('generated-at')).not.to.equal(first);
  });

  it('counts what is sent and delivered, and shows a message in flight until its receipt comes', async () => {
    await load();
    const sent0 = await count('out/request/sent');
    const delivered0 = await count('out/request/delivered');
    expect(await fact('in-flight')).to.equal('0');

    // Two messages with the peer up: both sent and receipted.
    const ids: string[] = [];
    for (const key of ['dash-1', 'dash-2']) {
      const { messageId } = await czIpc.client.submit(example('request', key) as SubmissionInput);
      ids.push(messageId);
    }
    for (const id of ids) {
      await czIpc.events.waitFor((e) => e.type === 'delivered' && e.messageId === id, 20_000, 'receipt');
    }
    await reloadUntil(
      async () => (await count('out/request/delivered')) === delivered0 + 2,
      'two more delivered',
    );
    expect(await count('out/request/sent')).to.equal(sent0 + 2);
    expect(await fact('in-flight')).to.equal('0');

    // The peer gateway stops: the next message reaches its ingress queue, but no receipt comes back.
    await pair.kz.stop();
    let messageId: string;
    try {
      ({ messageId } = await czIpc.client.submit(example('request', 'dash-3') as SubmissionInput));
      await czIpc.events.waitFor((e) => e.type === 'sent' && e.messageId === messageId, 20_000, 'sent');
      await reloadUntil(
        async () => (await count('out/request/sent')) === sent0 + 3,
        'the third message sent',
      );
      expect(await fact('in-flight')).to.equal('1');
      expect(await count('out/request/delivered')).to.equal(delivered0 + 2);
      expect((await summary()).inFlight).to.equal(1);
    } finally {
      // It comes back, takes the message in and receipts it (the later tests need it running, too).
      kzRestarted = await Gateway.start(pair.kzConfig, memoryLogger().log.child({ gw: 'KZ2' }));
    }
    await czIpc.events.waitFor((e) => e.type === 'delivered' && e.messageId === messageId, 30_000, 'receipt');
    await reloadUntil(
      async () => (await count('out/request/delivered')) === delivered0 + 3,
      'the third message delivered',
      30_000,
    );
    expect(await fact('in-flight')).to.equal('0');
  });

  it('lists a refusal with its message id, grounds and who decided — never the explanation or the request', async () => {
    const sub = example('request', 'dash-refused');
    sub.from = 'kz-mia';
    sub.to = { party: 'CZ', authority: 'cz-pp-ipc' };
    sub.body.assistanceTypes = ['special-techniques'];
    const { messageId } = await kzMia.client.submit(sub as SubmissionInput);
    await kzMia.events.waitFor((e) => e.type === 'refused' && e.messageId === messageId, 20_000, 'refused');
    const row = page.locator(`#refusals tr[data-message-id="${messageId}"]`);
    await reloadUntil(async () => (await row.count()) === 1, 'the refusal');
    const cells = (await row.locator('td').allInnerTexts()).map((t) => t.trim());
    expect(cells.slice(1)).to.deep.equal([messageId, 'national-legislation', 'rule']);
    expect(await count('in/request/refused')).to.equal(1);
    const html = await page.content();
    expect(html).not.to.contain('EXPLANATION-NEVER');
    for (const personal of [sub.body.summary, sub.body.details, 'N12345678']) {
      expect(html).not.to.contain(personal);
    }
    const s = await summary();
    expect(s.refusals[0]).to.deep.include({
      messageId,
      grounds: ['national-legislation'],
      decidedBy: 'rule',
    });
    expect(JSON.stringify(s)).not.to.contain('EXPLANATION-NEVER');
  });

  it('lists an overdue obligation (Art. 9(2) reply) among the recent alerts', async () => {
    const sub = example('request', 'dash-overdue');
    sub.from = 'kz-mia';
    sub.to = { party: 'CZ', authority: 'cz-pp-ipc' };
    sub.body.replyBy = new Date(Date.now() + 2000).toISOString();
    const { messageId } = await kzMia.client.submit(sub as SubmissionInput);
    await czIpc.inbox.waitFor((d) => d.envelope.id === messageId, 20_000, 'the request at CZ');
    const row = page.locator(`#alerts tr[data-alert="alert.obligation_overdue"]`, { hasText: messageId });
    await reloadUntil(async () => (await row.count()) === 1, 'the overdue alert', 30_000);
    const text = await row.innerText();
    expect(text).to.contain('cz-pp-ipc');
    expect(text).to.contain('obligation.reply_overdue');
    mkdirSync(join(ROOT, 'test-output'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });

  it('escapes every value: markup in a fact is shown as text, never run', async () => {
    const hostile = '<img src=x onerror="document.title=1">';
    const s: Summary = {
      ...(await summary()),
      keys: [{ owner: 'own', kid: hostile, use: 'sig', state: 'active' }],
    };
    const html = renderDashboard(Summary.parse(s), 'bm9uY2U=');
    expect(html).not.to.contain('<img');
    const p = await context.newPage();
    try {
      await p.setContent(html);
      expect(await p.locator('img').count()).to.equal(0);
      expect(await p.locator('#keys code').first().innerText()).to.equal(hostile);
    } finally {
      await p.close();
    }
  });
});
