/**
 * Alerts for the administrator on call: an error-level log line with a stable `alert` code and, when
 * `alerts.webhookUrl` is set, a signed JSON POST to it (for a pager or a chat channel). An alert
 * carries codes, ids, authorities and times — never message content.
 *
 * Two sorts:
 * - a condition (a peer link down, a silent peer gateway, no usable key, a growing dead-letter queue,
 *   an overdue obligation) is {@link Alerts.open}ed under a stable key and fires once while it lasts;
 *   opening it again does nothing, and {@link Alerts.resolve} sends one `resolved` notification when
 *   it clears. Open conditions are listed by {@link Alerts.openAlerts} (GET /api/alerts). They live in
 *   this process's memory: after a restart a condition that still holds is opened (and sent) again.
 * - an event (a delivery that failed for good) is {@link Alerts.raise}d each time it happens.
 *
 * The webhook gets one POST per notification, in order, signed with HMAC-SHA256 over
 * `<timestamp>.<body>` (header {@link SIGNATURE_HEADER}: `t=<unix seconds>,v1=<hex>`), with the secret
 * named by `alerts.webhookSecretEnv` or `alerts.webhookSecretFile`. A refused or unreachable webhook is
 * retried with exponential back-off, a bounded number of times; the pipelines never wait for it. What
 * could not be delivered is logged with the code `infra.webhook_failed`: the log line is the record.
 */
import { createHmac } from 'node:crypto';
import type { Logger } from 'pino';
import { Ring } from './ring.js';

export const ALERTS = {
  'alert.delivery_failed': 'No signed receipt after the last resend; the message is parked in accord.dlq.',
  'alert.obligation_overdue':
    'A deadline of the agreement passed without the act it requires (see `obligation`).',
  'alert.destruction_overdue':
    'Art. 10(4), 10(5): personal data were ordered destroyed (deadline, erasure, termination) and the authority has not confirmed it in time.',
  'alert.refusal_notice_overdue':
    'Art. 9(5): a refusal notice has had no receipt from the peer in time (it must be notified immediately); it is being resent.',
  'alert.key_expiring':
    'A key expires within keys.expiryWarningDays, or has expired (daysLeft < 0); rotate it (docs/keys.md).',
  'alert.key_unusable':
    'No own signing key or peer encryption key is usable (revoked or expired): nothing is sent or acknowledged until one is (docs/keys.md).',
  'alert.audit_unwritable':
    'Art. 10(6): the audit log cannot be written (see `reason`, e.g. ENOSPC); messages wait, nothing is acked without its record, until space or write access returns.',
  'alert.peer_link_down':
    'The connection to the peer broker has been down longer than alerts.peerDownAfterS.',
  'alert.peer_gateway_silent':
    'The peer gateway has sent nothing (no heartbeat, no message) for alerts.peerSilentAfterS although its broker is reachable: its gateway is probably down.',
  'alert.dlq_growing':
    'accord.dlq holds more than alerts.dlqDepthAbove messages (`depth`): each is a message no one has handled yet (accord dlq list).',
  'alert.redis_lost':
    'Redis lost its data (`reason`: lost, or restored from an older snapshot); the gateway rebuilt de-duplication and sent records from the audit records, and `lost` says what it could not rebuild (docs/operator.md, "Redis is lost").',
} as const;
export type AlertCode = keyof typeof ALERTS;

/** The header that carries the webhook's signature. */
export const SIGNATURE_HEADER = 'x-accord-signature';

export interface AlertFacts {
  messageId?: string;
  authority?: string;
  kind?: string;
  obligation?: string;
  downForS?: number;
  silentForS?: number;
  depth?: number;
  kid?: string;
  daysLeft?: number;
  /** What failed, as an errno code (ENOSPC, EROFS…): never a path or content. */
  reason?: string;
  /** After a Redis loss: what was rebuilt (counts) and what could not be. */
  lost?: string;
}

/** Raises alerts; the pipelines and timers see only this. */
export interface Alerter {
  /** An event: notified each time. */
  raise(code: AlertCode, facts?: AlertFacts): void;
  /** A condition holds: notified once, until it is resolved. `subject` tells apart conditions of one code. */
  open(code: AlertCode, facts?: AlertFacts, subject?: string): void;
  /** The condition cleared: one `resolved` notification, if it was open. */
  resolve(code: AlertCode, subject?: string): void;
}

/** One alert as the dashboard lists it. */
export interface RecentAlert extends AlertFacts {
  code: AlertCode;
  at: string;
}

/** A condition that holds now. */
export interface OpenAlert extends RecentAlert {
  /** Stable while the condition lasts: the code, and the subject when there is one. */
  key: string;
}

/** A notification, as it goes to the log and the webhook. */
export interface AlertNotice extends AlertFacts {
  alert: AlertCode;
  status: 'firing' | 'resolved';
  key: string;
  party: string;
  at: string;
  /** For a resolved condition: when it was opened. */
  since?: string;
  message: string;
}

/** How the webhook is posted to. */
export interface WebhookOptions {
  url: string;
  secret: string;
  /** Attempts per notification (the first included). @defaultValue 5 */
  attempts?: number;
  /** Wait before the first retry, doubled each time up to 60 s. @defaultValue 1000 */
  firstRetryMs?: number;
  /** Per attempt. @defaultValue 5000 */
  timeoutMs?: number;
}

/** Notifications waiting for the webhook beyond this are dropped (and logged): a dead webhook costs no memory. */
const MAX_QUEUED = 200;

/**
 * Conditions kept open at most (obligations overdue by the thousand, never met): beyond this a new
 * condition still fires, but is not kept, so it sends no `resolved`.
 */
const MAX_OPEN = 1000;

/** The signature header's value for `body` sent at `t` (unix seconds): what a receiver recomputes. */
export function webhookSignature(secret: string, t: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${t}.${body}`, 'utf8').digest('hex');
  return `t=${t},v1=${mac}`;
}

const keyOf = (code: AlertCode, subject: string | undefined) =>
  subject === undefined ? code : `${code}:${subject}`;

export class Alerts implements Alerter {
  /** The last alerts fired, newest first (for the dashboard; lost on restart). */
  readonly recent = new Ring<RecentAlert>(20);
  /** The last conditions that cleared, newest first: `at` when it cleared, `since` when it opened. */
  readonly cleared = new Ring<RecentAlert & { since: string }>(20);
  private readonly opened = new Map<string, OpenAlert>();
  private readonly queue: AlertNotice[] = [];
  private posting = false;

  constructor(
    private readonly party: string,
    private readonly log: Logger,
    private readonly webhook: WebhookOptions | undefined,
    private readonly now: () => Date = () => new Date(),
  ) {}

  raise(code: AlertCode, facts: AlertFacts = {}): void {
    this.fire(code, code, facts);
  }

  open(code: AlertCode, facts: AlertFacts = {}, subject?: string): void {
    const key = keyOf(code, subject);
    if (this.opened.has(key)) return;
    const notice = this.fire(code, key, facts);
    if (this.opened.size < MAX_OPEN) this.opened.set(key, { key, code, at: notice.at, ...facts });
  }

  resolve(code: AlertCode, subject?: string): void {
    const key = keyOf(code, subject);
    const was = this.opened.get(key);
    if (was === undefined) return;
    this.opened.delete(key);
    const { key: _key, code: _code, at: since, ...facts } = was;
    const notice: AlertNotice = {
      alert: code,
      status: 'resolved',
      key,
      party: this.party,
      at: this.now().toISOString(),
      ...facts,
      since,
      message: ALERTS[code],
    };
    this.log.warn(notice, `resolved: ${ALERTS[code]}`);
    this.cleared.push({ code, at: notice.at, since, ...facts });
    this.post(notice);
  }

  /** The conditions that hold now, oldest first. */
  openAlerts(): OpenAlert[] {
    return [...this.opened.values()].map((a) => ({ ...a }));
  }

  private fire(code: AlertCode, key: string, facts: AlertFacts): AlertNotice {
    const notice: AlertNotice = {
      alert: code,
      status: 'firing',
      key,
      party: this.party,
      at: this.now().toISOString(),
      ...facts,
      message: ALERTS[code],
    };
    this.log.error(notice, `alert: ${ALERTS[code]}`);
    this.recent.push({ code, at: notice.at, ...facts });
    this.post(notice);
    return notice;
  }

  /** Queue a notification for the webhook; they go one at a time, in order. */
  private post(notice: AlertNotice): void {
    if (this.webhook === undefined) return;
    if (this.queue.length >= MAX_QUEUED) {
      this.log.error(
        {
          code: 'infra.webhook_failed',
          alert: notice.alert,
          status: notice.status,
          queued: this.queue.length,
        },
        'alert webhook backlog full; this notification is not sent (the log line above is its record)',
      );
      return;
    }
    this.queue.push(notice);
    if (!this.posting) void this.drain(this.webhook);
  }

  private async drain(webhook: WebhookOptions): Promise<void> {
    this.posting = true;
    try {
      for (let notice = this.queue.shift(); notice !== undefined; notice = this.queue.shift()) {
        await this.deliver(webhook, notice);
      }
    } finally {
      this.posting = false;
    }
  }

  /** Post one notification, retrying with back-off; never throws. */
  private async deliver(webhook: WebhookOptions, notice: AlertNotice): Promise<void> {
    const attempts = webhook.attempts ?? 5;
    const body = JSON.stringify(notice);
    let wait = webhook.firstRetryMs ?? 1000;
    for (let attempt = 1; ; attempt++) {
      let why: Record<string, unknown>;
      try {
        const t = Math.floor(this.now().getTime() / 1000);
        const res = await fetch(webhook.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            [SIGNATURE_HEADER]: webhookSignature(webhook.secret, t, body),
          },
          body,
          signal: AbortSignal.timeout(webhook.timeoutMs ?? 5000),
        });
        await res.body?.cancel().catch(() => undefined);
        if (res.ok) return;
        why = { httpStatus: res.status };
      } catch (err) {
        why = { err: (err as Error).message };
      }
      const last = attempt >= attempts;
      this.log[last ? 'error' : 'warn'](
        { code: 'infra.webhook_failed', alert: notice.alert, status: notice.status, attempt, ...why },
        last
          ? 'alert webhook failed on its last attempt; this notification is not sent (the log line is its record)'
          : 'alert webhook failed; retrying',
      );
      if (last) return;
      await new Promise((r) => setTimeout(r, wait).unref());
      wait = Math.min(wait * 2, 60_000);
    }
  }
}
