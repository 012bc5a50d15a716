/**
 * What the Redis-loss guard takes from the audit records (src/jobs/redis-loss.ts), without Redis: the
 * messages taken in from the peer and sent to it within the window, from the first record the data may
 * lack, not the ones whose delivery has not committed, not checkpoints or peer anchors.
 */
import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import type { Alerter, AlertCode, AlertFacts } from '../../src/admin/alerts.js';
import type { AuditRecord } from '../../src/audit/log.js';
import type { Config } from '../../src/config.js';
import { RedisLossGuard } from '../../src/jobs/redis-loss.js';
import type { MarkerState, RedisGeneration, Sent, TakenIn } from '../../src/store/redis-generation.js';
import { tempDir } from '../helpers/temp.js';

const NOW = Date.parse('2026-12-04T12:00:00Z');
const DAY = 86_400_000;

function record(seq: number, over: Partial<AuditRecord>): string {
  const rec: AuditRecord = {
    type: 'receipt',
    seq,
    time: new Date(NOW - 60_000).toISOString(),
    prevHash: '0'.repeat(64),
    hash: '0'.repeat(64),
    ...over,
  };
  return `${JSON.stringify(rec)}\n`;
}

/** A generation that says `marker` and keeps what the guard writes. */
function fakeGeneration(marker: MarkerState) {
  const written = { takenIn: [] as TakenIn[], sent: [] as Sent[], recorded: [] as number[] };
  const generation = {
    key: 'k',
    field: 'f',
    advance: () => Promise.resolve(marker),
    record: (records: number) => Promise.resolve(void written.recorded.push(records)),
    rebuildTakenIn: (items: readonly TakenIn[]) => {
      written.takenIn.push(...items);
      return Promise.resolve(items.length);
    },
    rebuildSent: (items: readonly Sent[]) => {
      written.sent.push(...items);
      return Promise.resolve(items.length);
    },
  } as unknown as RedisGeneration;
  return { generation, written };
}

describe('the Redis-loss guard (unit)', () => {
  const dir = tempDir('redis-loss');
  const file = join(dir, 'audit.jsonl');
  const config = {
    party: 'KZ',
    peer: { party: 'CZ' },
    messages: { maxValidityDays: 30 },
    crypto: { clockLeewayS: 300 },
  } as unknown as Config;
  const lines = [
    record(0, {
      messageId: 'in-old',
      fromAuthority: 'CZ/cz-pp-ipc',
      toAuthority: 'KZ/kz-mia',
      time: new Date(NOW - 40 * DAY).toISOString(),
    }),
    record(1, {
      messageId: 'in-1',
      kind: 'request',
      fromAuthority: 'CZ/cz-pp-ipc',
      toAuthority: 'KZ/kz-mia',
    }),
    record(2, { type: 'checkpoint', signature: 'x' }),
    record(3, { type: 'peer-anchor', messageId: 'receipt-1', fromAuthority: 'CZ', anchor: 'a' }),
    record(4, {
      type: 'provision',
      messageId: 'out-1',
      kind: 'reply',
      fromAuthority: 'KZ/kz-mia',
      toAuthority: 'CZ/cz-pp-ipc',
    }),
    record(5, { messageId: 'in-uncommitted', fromAuthority: 'CZ/cz-pp-ipc', toAuthority: 'KZ/kz-mia' }),
    record(6, {
      type: 'export-decision',
      messageId: 'exp-1',
      fromAuthority: 'KZ/kz-mia',
      toAuthority: 'XX/third',
    }),
    record(7, {
      messageId: 'in-2',
      kind: 'spontaneous',
      fromAuthority: 'CZ/cz-pp-ipc',
      toAuthority: 'KZ/kz-mia',
    }),
  ];
  writeFileSync(file, lines.join(''));
  const raised: { code: AlertCode; facts?: AlertFacts }[] = [];
  const alerts: Alerter = {
    raise: (code, facts) => void raised.push({ code, facts }),
    open: (code, facts) => void raised.push({ code, facts }),
    resolve: () => undefined,
  };

  const guardWith = (marker: MarkerState) => {
    const { generation, written } = fakeGeneration(marker);
    const guard = new RedisLossGuard({
      generation,
      seenKey: (id) => `seen:${id}`,
      sentKey: (id) => `sent:${id}`,
      auditFile: file,
      recordsWritten: () => lines.length,
      config,
      uncommitted: () => new Set(['in-uncommitted']),
      alerts,
      log: pino({ level: 'silent' }),
      now: () => new Date(NOW),
    });
    return { guard, written };
  };

  it('after a loss, rebuilds the messages taken in and sent within the window, and alerts', async () => {
    const { guard, written } = guardWith({ state: 'gone' });
    raised.length = 0;
    await guard.start();
    guard.stop();
    expect(written.takenIn.map((t) => t.id)).to.deep.equal(['in-1', 'in-2']);
    expect(written.takenIn[0]).to.include({
      kind: 'request',
      fromAuthority: 'cz-pp-ipc',
      toAuthority: 'kz-mia',
    });
    expect(written.sent).to.have.length(1);
    expect(written.sent[0]).to.include({
      id: 'out-1',
      from: 'kz-mia',
      toParty: 'CZ',
      toAuthority: 'cz-pp-ipc',
    });
    expect(written.recorded).to.deep.equal([lines.length]);
    expect(raised.map((r) => r.code)).to.deep.equal(['alert.redis_lost']);
    expect(raised[0]?.facts?.lost).to.match(/^rebuilt 2 de-duplication and 1 sent records/);
  });

  it('after an older snapshot, reads only the records the data may lack', async () => {
    const { guard, written } = guardWith({ state: 'behind', covered: 5 });
    await guard.start();
    guard.stop();
    expect(written.takenIn.map((t) => t.id)).to.deep.equal(['in-2']);
    expect(written.sent).to.deep.equal([]);
  });

  it('with the marker current, rebuilds nothing', async () => {
    const { guard, written } = guardWith({ state: 'current' });
    await guard.start();
    guard.stop();
    expect(written.takenIn).to.deep.equal([]);
    expect(written.recorded).to.deep.equal([]);
  });
});
