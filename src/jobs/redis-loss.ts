/**
 * Redis lost its data (FLUSHALL, a restart without AOF, an older snapshot restored): the gateway
 * notices, stops taking deliveries, rebuilds what de-duplication and reception awareness need from its
 * Art. 10(6) audit records, and only then takes deliveries again. It notices at start (before it
 * consumes), every few seconds while it runs, and at once when a claim finds the generation marker
 * gone (src/store/redis-state.ts checks it in the same script that writes the claim).
 *
 * From the records within the window a resend can still come in (`messages.maxValidityDays`, the
 * clock leeway and a day, as long as a de-duplication record lives):
 * - every message taken in from the peer gets a de-duplication record marked delivered, so a resend is
 *   answered with a receipt (sealed anew, status `duplicate`) and not delivered again;
 * - every message sent to the peer gets a sent record (the claim and `sentAt`), so a receipt still to
 *   come is reported `delivered` and the same key submitted again is answered `duplicate`.
 * What the records do not carry cannot be rebuilt, and one alert says so (`alert.redis_lost`): the
 * sealed copies awaiting receipts (no resend for those), receipt timers and deadlines, consents and
 * identifier hashes, suspension notices, requests held for review, an approved directory update and
 * the ledger of what was received and provided (destruction deadlines).
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import type { Alerter } from '../admin/alerts.js';
import { AuditRecordSchema, type AuditRecord } from '../audit/log.js';
import type { Config } from '../config.js';
import type { RedisGeneration, Sent, TakenIn } from '../store/redis-generation.js';

/** How often a running gateway compares the marker with its records. */
export const LOSS_CHECK_MS = 2_000;

/** What cannot be rebuilt from the audit records (said once per loss, in the log and the alert). */
export const NOT_REBUILT = [
  'sealed copies awaiting receipts (not resent)',
  'receipt timers and deadlines',
  'consents and identifier hashes',
  'suspension notices',
  'requests held for review',
  'an approved directory update',
  'the ledger of messages received and provided (destruction deadlines)',
] as const;

/** Records that name a message but are not a message exchanged with the peer. */
const NOT_A_MESSAGE = new Set<AuditRecord['type']>(['checkpoint', 'peer-anchor', 'dead-letter-drop']);

export interface RedisLossDeps {
  generation: RedisGeneration;
  /** The key of a de-duplication record and of a sent record (src/store/redis-state.ts). */
  seenKey: (id: string) => string;
  sentKey: (id: string) => string;
  auditFile: string;
  /** How many records this process's audit file holds. */
  recordsWritten: () => number;
  config: Config;
  /** Messages taken in whose delivery began in this process and has not committed (inbound.ts). */
  uncommitted: () => ReadonlySet<string>;
  alerts: Alerter;
  log: Logger;
  now: () => Date;
}

/** What one rebuild did. */
export interface Rebuilt {
  why: 'lost' | 'restored';
  fromRecord: number;
  records: number;
  takenIn: number;
  sent: number;
  /**
   * Of those, the records of the last day: a de-duplication or sent record lives at least a day, so
   * one of these missing was lost, not expired.
   */
  missingRecent: number;
}

export class RedisLossGuard {
  private rebuilding: Promise<void> | undefined;
  private inflight = 0;
  private idle: (() => void)[] = [];
  /** The record count this process last wrote into the marker. */
  private lastRecorded = 0;
  /** How many claim scripts of this process got through (counted in the marker too). */
  private claimCount = 0;
  private timer: NodeJS.Timeout | undefined;
  private checking = false;
  /** The namespace held no key when the gateway started (see {@link start}). */
  private emptyAtStart = false;
  /** The last rebuild (for tests and the log). */
  lastRebuild: Rebuilt | undefined;

  constructor(private readonly deps: RedisLossDeps) {}

  /**
   * Wrap a consumer's handler: it waits while a rebuild runs, and a rebuild waits for the handlers
   * already running (their records are then in the audit file).
   */
  gate<A extends unknown[], R>(handle: (...a: A) => Promise<R>): (...a: A) => Promise<R> {
    return async (...a: A) => {
      while (this.rebuilding !== undefined) await this.rebuilding;
      this.inflight++;
      try {
        return await handle(...a);
      } finally {
        this.inflight--;
        if (this.inflight === 0) for (const wake of this.idle.splice(0)) wake();
      }
    };
  }

  /**
   * At start, before anything is consumed: rebuild when Redis lost data while the gateway was down.
   * `emptyAtStart`: the namespace held no key before this start wrote any (all of it was lost).
   */
  async start(emptyAtStart = false): Promise<void> {
    this.emptyAtStart = emptyAtStart;
    await this.check(true);
    this.timer = setInterval(() => void this.watch(), LOSS_CHECK_MS);
    this.timer.unref();
  }

  /** The most this process recorded in the marker (a lower field is an older snapshot). */
  floor(): number {
    return this.lastRecorded;
  }

  /** How many claim scripts of this process got through. */
  claims(): number {
    return this.claimCount;
  }

  /** A claim script got through and raised the marker to `records`. */
  advanced(records: number): void {
    this.claimCount++;
    this.lastRecorded = Math.max(this.lastRecorded, records);
  }

  /** A script found the marker gone: rebuild (once, however many found it). */
  lost(): void {
    void this.watch();
  }

  /** Resolves once no rebuild is running. */
  async settled(): Promise<void> {
    while (this.rebuilding !== undefined) await this.rebuilding;
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
  }

  private async watch(): Promise<void> {
    if (this.checking || this.rebuilding !== undefined) return;
    this.checking = true;
    try {
      await this.check(false);
    } catch (err) {
      // Redis unreachable: the pipelines wait for it anyway; the next check looks again.
      this.deps.log.debug({ err: (err as Error).message }, 'generation marker not checked');
    } finally {
      this.checking = false;
    }
  }

  private async check(atStart: boolean): Promise<void> {
    const { generation, recordsWritten } = this.deps;
    const records = recordsWritten();
    const marker = await generation.advance(records, this.lastRecorded, this.claimCount);
    if (marker.state === 'current') {
      this.lastRecorded = Math.max(this.lastRecorded, records);
      return;
    }
    if (atStart && marker.state === 'gone' && records === 0) {
      // A first start: nothing to rebuild.
      await generation.record(0, this.claimCount);
      return;
    }
    await this.rebuild(marker.state === 'gone' ? 0 : marker.covered, marker.state, atStart);
  }

  private rebuild(fromRecord: number, state: 'gone' | 'behind', atStart: boolean): Promise<void> {
    if (this.rebuilding !== undefined) return this.rebuilding;
    const why = state === 'gone' ? 'lost' : 'restored';
    this.rebuilding = this.rebuildNow(fromRecord, why, atStart).finally(() => {
      this.rebuilding = undefined;
    });
    return this.rebuilding;
  }

  private async rebuildNow(fromRecord: number, why: Rebuilt['why'], atStart: boolean): Promise<void> {
    const { log } = this.deps;
    if (!atStart) {
      log.error(
        { why, fromRecord },
        'Redis lost its data; nothing is taken in until the gateway has rebuilt its state from the audit records',
      );
    }
    // The handlers running now finish first, so that what they record is in the file read below.
    while (this.inflight > 0) await new Promise<void>((wake) => this.idle.push(wake));
    for (;;) {
      try {
        const done = await this.rebuildFrom(fromRecord, why);
        this.lastRebuild = done;
        this.report(done, atStart);
        return;
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'rebuilding from the audit records failed; trying again');
        await new Promise((r) => setTimeout(r, 1000).unref());
      }
    }
  }

  private async rebuildFrom(fromRecord: number, why: Rebuilt['why']): Promise<Rebuilt> {
    const { config, now, generation } = this.deps;
    const records = this.deps.recordsWritten();
    const windowS = config.messages.maxValidityDays * 86_400 + config.crypto.clockLeewayS + 86_400;
    const nowMs = now().getTime();
    const since = nowMs - windowS * 1000;
    const uncommitted = this.deps.uncommitted();
    const takenIn: TakenIn[] = [];
    /** When each of `takenIn` was recorded (ms). */
    const takenInAt: number[] = [];
    const sent: Sent[] = [];
    const own = `${config.party}/`;
    const peer = `${config.peer.party}/`;
    for await (const rec of readRecords(this.deps.auditFile)) {
      if (rec.seq < fromRecord || rec.messageId === undefined || NOT_A_MESSAGE.has(rec.type)) continue;
      const at = Date.parse(rec.time);
      if (at < since) continue;
      const from = rec.fromAuthority ?? '';
      const to = rec.toAuthority ?? '';
      const ttlS = Math.max(60, Math.ceil((at + windowS * 1000 - nowMs) / 1000));
      if (from.startsWith(peer) && to.startsWith(own)) {
        // Its delivery began here and did not commit: its copy comes back and is delivered then.
        if (uncommitted.has(rec.messageId)) continue;
        takenInAt.push(at);
        takenIn.push({
          id: rec.messageId,
          kind: rec.kind ?? '',
          fromAuthority: from.slice(peer.length),
          toAuthority: to.slice(own.length),
          ttlS,
        });
      } else if (from.startsWith(own) && to.startsWith(peer)) {
        sent.push({
          id: rec.messageId,
          kind: rec.kind ?? '',
          from: from.slice(own.length),
          toParty: config.peer.party,
          toAuthority: to.slice(peer.length),
          sentAt: rec.time,
          ttlS,
        });
      }
    }
    // A de-duplication or sent record lives at least a day: one of the last day missing was lost.
    const dayAgo = nowMs - 86_400_000;
    const inRecent = takenIn.filter((_, i) => takenInAt[i]! >= dayAgo);
    const inOlder = takenIn.filter((_, i) => takenInAt[i]! < dayAgo);
    const sentRecent = sent.filter((t) => Date.parse(t.sentAt) >= dayAgo);
    const sentOlder = sent.filter((t) => Date.parse(t.sentAt) < dayAgo);
    const recentIn = await generation.rebuildTakenIn(inRecent, this.deps.seenKey);
    const recentSent = await generation.rebuildSent(sentRecent, this.deps.sentKey);
    const result: Rebuilt = {
      why,
      fromRecord,
      records,
      takenIn: recentIn + (await generation.rebuildTakenIn(inOlder, this.deps.seenKey)),
      sent: recentSent + (await generation.rebuildSent(sentOlder, this.deps.sentKey)),
      missingRecent: recentIn + recentSent,
    };
    await generation.record(records, this.claimCount);
    this.lastRecorded = records;
    return result;
  }

  /** One line, and one alert: what was rebuilt, and what could not be. */
  private report(done: Rebuilt, atStart: boolean): void {
    const { log, alerts } = this.deps;
    // At start, a loss shows as an empty namespace or a record of the last day missing. Otherwise (a
    // restart after a crash, the first start of this version) only expired records were written again.
    if (atStart && done.missingRecent === 0 && !(this.emptyAtStart && done.why === 'lost')) {
      log.info({ ...done }, 'generation marker renewed; nothing recent was missing');
      return;
    }
    const lost = `rebuilt ${done.takenIn} de-duplication and ${done.sent} sent records from audit records ${done.fromRecord}–${done.records}; not rebuilt: ${NOT_REBUILT.join(', ')}`;
    log.error(
      { ...done, notRebuilt: NOT_REBUILT },
      'Redis lost its data; rebuilt from the audit records, taking deliveries again (docs/operator.md, "Redis is lost")',
    );
    alerts.raise('alert.redis_lost', { reason: done.why, lost });
  }
}

/** The records of an audit file, in order; a last line being written is skipped. */
async function* readRecords(file: string): AsyncGenerator<AuditRecord> {
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.length === 0) continue;
    let rec: AuditRecord;
    try {
      rec = AuditRecordSchema.parse(JSON.parse(line));
    } catch {
      continue;
    }
    yield rec;
  }
}
