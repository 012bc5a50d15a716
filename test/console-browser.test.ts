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
import amqp from 'amqplib';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { SubmissionInput } from '../src/client/index.js';
import { names } from '../src/config.js';
import { Gateway } from '../src/gateway.js';
import {
  AMQP_URL,
  ROOT,
  configFileFor,
  eventually,
  example,
  memoryLogger,
  ownKeyCopies,
  publishRaw,
  runCli,
  startPair,
  type Pair,
  type TestAuthority,
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
  let czIpc: TestAuthority;
  let kzRestarted: Gateway | undefined;
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
      // A message the peer does not answer fails after one resend, in seconds: a dead letter to fix.
      raw.delivery = { receiptTimeoutMs: 2000, maxResends: 1 };
    });
    czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
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
    await kzRestarted?.stop();
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

  it('finds a message in the message log by kind and authority, and opens its trace', async () => {
    const { messageId } = await czIpc.client.submit(example('request', 'console-log-1') as SubmissionInput);
    await czIpc.events.waitFor((e) => e.type === 'delivered' && e.messageId === messageId, 20_000, 'receipt');
    await page.goto(`${base}/messages`);
    await page.fill('#filter input[name="kind"]', 'request');
    await page.fill('#filter input[name="authority"]', 'cz-pp-ipc');
    await page.click('#filter button[type="submit"]');
    const row = page.locator(`#messages tr[data-message-id="${messageId}"]`);
    await eventually(
      async () => {
        if ((await row.count()) === 1) return true;
        await page.reload();
        return undefined;
      },
      10_000,
      'the message in the log',
    );
    expect(await row.innerText()).to.contain('delivered');
    await row.locator('a').click();
    expect(new URL(page.url()).pathname).to.equal(`/messages/${messageId}`);
    expect(await page.locator('#trace').innerText()).to.contain('signed receipt from the peer');
    // A filter the log does not know is refused on the page with its code, not ignored.
    await page.goto(`${base}/messages?status=lost-in-space`);
    expect(await page.locator('#query-error').innerText()).to.match(/^input\.invalid: /);
    // That page answers 400, which the browser reports; nothing else may.
    expect(consoleErrors.splice(0)).to.have.length(1);
  });

  it('replays a failed send once the peer is back, and drops a malformed message with a reason; both recorded', async () => {
    // The peer gateway stops: a message gets no receipt after its one resend and is dead-lettered.
    await pair.kz.stop();
    const { messageId } = await czIpc.client.submit(example('request', 'console-dlq-1') as SubmissionInput);
    await czIpc.events.waitFor((e) => e.type === 'failed' && e.messageId === messageId, 30_000, 'failed');
    // Its copies wait in KZ's ingress: lost there (as if the peer's broker lost them), only a replay
    // from CZ's dead letter brings the message to KZ.
    const conn = await amqp.connect(AMQP_URL);
    try {
      await (await conn.createChannel()).purgeQueue(names(pair.kzConfig.namespace).ingress);
    } finally {
      await conn.close();
    }
    kzRestarted = await Gateway.start(pair.kzConfig, memoryLogger().log.child({ gw: 'KZ2' }));
    // And something that is not a message at all reaches CZ's ingress.
    await publishRaw(names(pair.czConfig.namespace).ingress, Buffer.from('not a JWE'));

    const letterOf = (code: string) => page.locator(`#letters tr[data-code="${code}"]`);
    await eventually(
      async () => {
        await page.goto(`${base}/dead-letters`);
        return (await letterOf('delivery.no_receipt').count()) === 1 &&
          (await letterOf('crypto.malformed').count()) === 1
          ? true
          : undefined;
      },
      20_000,
      'both letters listed',
    );
    await page.screenshot({ path: join(OUT, 'console-dead-letters.png'), fullPage: true });
    // A malformed message cannot be replayed: the button says why.
    expect(await letterOf('crypto.malformed').locator('button[data-action="replay"]').isDisabled()).to.equal(
      true,
    );
    await letterOf('delivery.no_receipt').locator('button[data-action="replay"]').click();
    expect(await page.locator('#outcome').innerText()).to.match(
      /replay \S+: replayed to \S+\.accord\.outbox/,
    );
    await czIpc.events.waitFor(
      (e) => e.type === 'delivered' && e.messageId === messageId,
      30_000,
      'delivered after replay',
    );

    const malformed = letterOf('crypto.malformed');
    await malformed.locator('input[name="reason"]').fill('garbage from a test publisher');
    await malformed.locator('button[data-action="drop"]').click();
    expect(await page.locator('#outcome').innerText()).to.match(/drop \S+: dropped/);
    expect(await letterOf('crypto.malformed').count()).to.equal(0);

    // Art. 10(6): who did what is in the audit log.
    const exported = await runCli([
      'audit',
      'export',
      '--config',
      configFileFor(pair.czConfig),
      '--from',
      new Date(Date.now() - 86_400_000).toISOString(),
      '--to',
      new Date(Date.now() + 86_400_000).toISOString(),
      '--format',
      'json',
    ]);
    expect(exported.code, exported.stderr).to.equal(0);
    expect(exported.stdout).to.contain('admin console replay').and.to.contain('admin console drop');
  });

  // Last before logging out: after a rotation the peer holds the new signing key until its security
  // staff approve it by thumbprint, so nothing CZ signs is delivered any more in this pair.
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
    await eventually(
      async () => {
        await page.goto(`${base}/`);
        return (await page.locator('[data-open-alert="alert.key_unusable"]').count()) === 1
          ? true
          : undefined;
      },
      20_000,
      'alert.key_unusable open on the dashboard',
    );
    await page.screenshot({ path: join(OUT, 'console-red.png'), fullPage: true });

    const rotated = await runCli(['keys', 'rotate', '--use', 'sig', '--config', cz]);
    expect(rotated.code, rotated.stderr).to.equal(0);
    const next = /next sig key (\S+)/.exec(rotated.stdout)![1]!;
    const activated = await runCli(['keys', 'activate', next, '--config', cz]);
    expect(activated.code, activated.stderr).to.equal(0);
    await bannerBecomes('true');
    // The condition cleared: no longer open, listed as cleared (a `resolved` notice went out).
    await eventually(
      async () => {
        await page.goto(`${base}/`);
        return (await page.locator('[data-cleared-alert="alert.key_unusable"]').count()) === 1 &&
          (await page.locator('[data-open-alert="alert.key_unusable"]').count()) === 0
          ? true
          : undefined;
      },
      20_000,
      'alert.key_unusable cleared on the dashboard',
    );
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
