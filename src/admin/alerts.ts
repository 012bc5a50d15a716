/**
 * Alerts for the administrator on call: an error-level log line with a stable `alert` code
 * and, when `alerts.webhookUrl` is set, a JSON POST to it (for a pager or a chat channel). An alert
 * carries codes, ids, authorities and times — never message content. A webhook that fails is logged and
 * not retried: the log line is the record.
 */
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
  'alert.redis_lost':
    'Redis lost its data (`reason`: lost, or restored from an older snapshot); the gateway rebuilt de-duplication and sent records from the audit records, and `lost` says what it could not rebuild (docs/operator.md, "Redis is lost").',
} as const;
export type AlertCode = keyof typeof ALERTS;

export interface AlertFacts {
  messageId?: string;
  authority?: string;
  kind?: string;
  obligation?: string;
  downForS?: number;
  kid?: string;
  daysLeft?: number;
  /** What failed, as an errno code (ENOSPC, EROFS…): never a path or content. */
  reason?: string;
  /** After a Redis loss: what was rebuilt (counts) and what could not be. */
  lost?: string;
}

/** Raises alerts; the pipelines and timers see only this. */
export interface Alerter {
  raise(code: AlertCode, facts?: AlertFacts): void;
}

/** One alert as the dashboard lists it. */
export interface RecentAlert extends AlertFacts {
  code: AlertCode;
  at: string;
}

export class Alerts implements Alerter {
  /** The last alerts raised, newest first (for the dashboard; lost on restart). */
  readonly recent = new Ring<RecentAlert>(20);

  constructor(
    private readonly party: string,
    private readonly log: Logger,
    private readonly webhookUrl: string | undefined,
    private readonly now: () => Date = () => new Date(),
  ) {}

  raise(code: AlertCode, facts: AlertFacts = {}): void {
    const alert = {
      alert: code,
      party: this.party,
      at: this.now().toISOString(),
      ...facts,
      message: ALERTS[code],
    };
    this.log.error(alert, `alert: ${ALERTS[code]}`);
    this.recent.push({ code, at: alert.at, ...facts });
    if (this.webhookUrl === undefined) return;
    fetch(this.webhookUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(alert),
      signal: AbortSignal.timeout(5000),
    })
      .then((res) => {
        if (!res.ok) this.log.warn({ alert: code, status: res.status }, 'alert webhook refused the alert');
      })
      .catch((err: unknown) =>
        this.log.warn({ alert: code, err: (err as Error).message }, 'alert webhook unreachable'),
      );
  }
}
