/**
 * admin/alerts: a condition fires once while it lasts and sends one `resolved` when it clears; an event
 * fires each time; every webhook POST is signed (HMAC-SHA256 over `<t>.<body>`) and one the webhook
 * refuses is retried.
 */
import { expect } from 'chai';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Alerts, SIGNATURE_HEADER, type AlertNotice } from '../../src/admin/alerts.js';
import { Collector, memoryLogger } from '../helpers/harness.js';

const SECRET = 'test-only-webhook-secret-0123456789abcdef';

/** Whether `header` is a valid signature of `body` under SECRET (what a receiver does). */
function signedBy(header: string | undefined, body: string): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!m) return false;
  const expected = createHmac('sha256', SECRET).update(`${m[1]}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(m[2]!, 'hex'));
}

describe('admin/alerts: open, resolve, a signed webhook retried', function () {
  this.timeout(20_000);
  let server: Server;
  let url: string;
  /** Every POST, as received: its body and whether its signature verified. */
  const posts = new Collector<{ notice: AlertNotice; signed: boolean; answered: number }>();
  /** The answers the webhook gives, in order; then 204. */
  let answers: number[] = [];

  before(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString('utf8')));
      req.on('end', () => {
        const answered = answers.shift() ?? 204;
        const signature = req.headers[SIGNATURE_HEADER];
        posts.push({
          notice: JSON.parse(body) as AlertNotice,
          signed: signedBy(typeof signature === 'string' ? signature : undefined, body),
          answered,
        });
        res.writeHead(answered).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  });
  after(() => server.close());
  beforeEach(() => {
    posts.items.length = 0;
    answers = [];
  });

  it('fires a condition once while it lasts, and sends one resolved when it clears', async () => {
    const { log, lines } = memoryLogger();
    const alerts = new Alerts('CZ', log, { url, secret: SECRET, firstRetryMs: 10 });
    alerts.open('alert.dlq_growing', { depth: 3 });
    alerts.open('alert.dlq_growing', { depth: 4 });
    expect(alerts.openAlerts().map((a) => [a.key, a.depth])).to.deep.equal([['alert.dlq_growing', 3]]);
    alerts.resolve('alert.dlq_growing');
    alerts.resolve('alert.dlq_growing');
    expect(alerts.openAlerts()).to.deep.equal([]);
    await posts.waitFor((p) => p.notice.status === 'resolved', 5000, 'the resolved notification');
    // Posted in order, and nothing after the one resolved (a later POST would follow it in order).
    alerts.raise('alert.delivery_failed', { messageId: 'm-1' });
    await posts.waitFor((p) => p.notice.alert === 'alert.delivery_failed', 5000, 'the event after it');
    expect(posts.items.map((p) => [p.notice.alert, p.notice.status])).to.deep.equal([
      ['alert.dlq_growing', 'firing'],
      ['alert.dlq_growing', 'resolved'],
      ['alert.delivery_failed', 'firing'],
    ]);
    expect(posts.items.every((p) => p.signed)).to.equal(true);
    expect(posts.items[1]!.notice).to.include({ key: 'alert.dlq_growing', party: 'CZ', depth: 3 });
    expect(posts.items[1]!.notice.since).to.equal(posts.items[0]!.notice.at);
    expect(lines.filter((l) => l.includes('"alert":"alert.dlq_growing"'))).to.have.length(2);
  });

  it('tells conditions of one code apart by their subject', () => {
    const alerts = new Alerts('CZ', memoryLogger().log, undefined);
    alerts.open('alert.obligation_overdue', { messageId: 'a' }, 'reply-due:a');
    alerts.open('alert.obligation_overdue', { messageId: 'b' }, 'reply-due:b');
    alerts.resolve('alert.obligation_overdue', 'reply-due:a');
    expect(alerts.openAlerts().map((a) => a.key)).to.deep.equal(['alert.obligation_overdue:reply-due:b']);
  });

  it('retries a notification the webhook refused, and logs each failure with its code', async () => {
    answers = [500];
    const { log, lines } = memoryLogger();
    const alerts = new Alerts('KZ', log, { url, secret: SECRET, firstRetryMs: 10 });
    alerts.open('alert.peer_gateway_silent', { silentForS: 91 });
    await posts.waitFor((p) => p.answered === 204, 5000, 'the retried notification');
    expect(posts.items.map((p) => p.answered)).to.deep.equal([500, 204]);
    expect(posts.items[0]!.notice).to.deep.equal(posts.items[1]!.notice);
    expect(posts.items.every((p) => p.signed)).to.equal(true);
    const failed = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.code === 'infra.webhook_failed');
    expect(failed).to.have.length(1);
    expect(failed[0]).to.include({ httpStatus: 500, attempt: 1, alert: 'alert.peer_gateway_silent' });
  });

  it('gives up after the last attempt, with an error line, and goes on with the next', async () => {
    answers = [503, 503];
    const { log, lines } = memoryLogger();
    const alerts = new Alerts('KZ', log, { url, secret: SECRET, attempts: 2, firstRetryMs: 10 });
    alerts.raise('alert.delivery_failed', { messageId: 'm-2' });
    alerts.raise('alert.delivery_failed', { messageId: 'm-3' });
    await posts.waitFor((p) => p.notice.messageId === 'm-3', 5000, 'the next notification');
    expect(posts.items.map((p) => [p.notice.messageId, p.answered])).to.deep.equal([
      ['m-2', 503],
      ['m-2', 503],
      ['m-3', 204],
    ]);
    expect(lines.some((l) => l.includes('"level":50') && l.includes('infra.webhook_failed'))).to.equal(true);
  });
});
