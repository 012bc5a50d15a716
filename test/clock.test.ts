/**
 * The drill clock (`accord start --clock-offset`, docs/operator.md "Rehearsing deadlines"): how an offset
 * is written, its refusal in production, and a gateway on it stamping what it writes with the shifted time.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import type { SubmissionInput } from '../src/client/index.js';
import { MAX_CLOCK_OFFSET_MS, drillClock, parseClockOffset, shiftedClock } from '../src/clock.js';
import { auditFileOf } from '../src/audit/log.js';
import {
  authority,
  configFileFor,
  example,
  ingressWithoutGateway,
  pairConfigs,
  removeNamespace,
  runCli,
  startGatewayCli,
  uniqueStem,
} from './helpers/harness.js';

const DAY_MS = 86_400_000;

describe('clock: parseClockOffset', () => {
  for (const [text, ms] of [
    ['+15d', 15 * DAY_MS],
    ['-2h', -2 * 3_600_000],
    ['+90m', 90 * 60_000],
    ['+30s', 30_000],
    ['-184d', -184 * DAY_MS],
    ['+3660d', MAX_CLOCK_OFFSET_MS],
  ] as const) {
    it(`reads ${text} as ${ms} ms`, () => {
      expect(parseClockOffset(text)).to.deep.equal({ ok: true, offsetMs: ms });
    });
  }

  for (const [text, why] of [
    ['15d', 'no sign'],
    ['+0d', 'zero'],
    ['+015d', 'a leading zero'],
    ['+1.5d', 'a fraction'],
    ['+15 d', 'a space'],
    [' +15d', 'a leading space'],
    ['+15d\n', 'a trailing newline'],
    ['+15D', 'an upper-case unit'],
    ['P16D', 'an ISO 8601 duration'],
    ['+15d2h', 'two units'],
    ['+2w', 'an unknown unit'],
    ['+1y', 'years'],
    ['--2h', 'two signs'],
    ['+', 'a sign alone'],
    ['', 'nothing'],
    ['+3661d', 'more than 3660 days'],
    ['+99999999999s', 'too many digits'],
  ] as const) {
    it(`refuses ${JSON.stringify(text)} (${why}), saying what is accepted`, () => {
      const r = parseClockOffset(text);
      expect(r.ok).to.equal(false);
      if (r.ok) return;
      expect(r.message).to.include('--clock-offset');
      if (why !== 'more than 3660 days') expect(r.message).to.include('e.g. +15d, -2h');
    });
  }

  it('shows no control character of the refused text', () => {
    const r = parseClockOffset('+1d\u001b[2J');
    expect(r.ok).to.equal(false);
    if (!r.ok) expect(r.message).not.to.include('\u001b');
  });
});

describe('clock: shiftedClock and drillClock', () => {
  it('is the wall clock plus the offset', () => {
    const wall = Date.parse('2026-01-01T00:00:00.000Z');
    expect(shiftedClock(-2 * 3_600_000, () => wall)().toISOString()).to.equal('2025-12-31T22:00:00.000Z');
  });

  it('refuses any offset with NODE_ENV=production, and gives a clock otherwise', () => {
    const prod = drillClock('+15d', { NODE_ENV: 'production' });
    expect(prod).to.deep.equal({
      ok: false,
      message: '--clock-offset is for drills and is refused with NODE_ENV=production',
    });
    const drill = drillClock('+15d', {});
    expect(drill.ok).to.equal(true);
    if (drill.ok) expect(drill.now().getTime() - Date.now()).to.be.within(15 * DAY_MS - 5000, 15 * DAY_MS);
  });
});

describe('accord start --clock-offset', function () {
  this.timeout(40_000);

  it('exits 2 with NODE_ENV=production, before it reads the config', async () => {
    const r = await runCli(['start', '--config', 'no-such-file.json', '--clock-offset', '+15d'], {
      NODE_ENV: 'production',
    });
    expect(r.code).to.equal(2);
    expect(r.stderr).to.equal(
      'accord start: --clock-offset is for drills and is refused with NODE_ENV=production\n',
    );
  });

  it('exits 2 for an offset that is not one, saying what is accepted', async () => {
    const r = await runCli(['start', '--config', 'config/cz.json', '--clock-offset', 'P16D']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(
      /^accord start: --clock-offset "P16D" is not a sign, a whole number and one unit/,
    );
  });

  it('runs a gateway that stamps its events, records and sent messages with the shifted time, and says so', async () => {
    const { cz, kz } = pairConfigs(uniqueStem());
    // KZ's gateway is not needed (it would have to run on the same drill clock): its ingress takes the message.
    await ingressWithoutGateway(kz);
    const gw = await startGatewayCli(['--config', configFileFor(cz), '--clock-offset', '+15d']);
    const ipc = await authority(cz, 'cz-pp-ipc');
    /** How far ahead of the wall clock a timestamp is, in days. */
    const daysAhead = (iso: string | undefined) => (Date.parse(iso ?? '') - Date.now()) / DAY_MS;
    try {
      const warning = gw
        .output()
        .split('\n')
        .find((l) => l.includes('DRILL CLOCK'));
      expect(warning, 'the warning at start').to.be.a('string');
      expect(JSON.parse(warning!)).to.include({ level: 'warn', clockOffset: '+15d' });

      const { messageId } = await ipc.client.submit(example('request', 'drill-1') as SubmissionInput);
      const sent = await ipc.events.waitFor((e) => e.type === 'sent' && e.messageId === messageId);
      expect(daysAhead(sent.at), 'sent.at').to.be.within(14.9, 15);
      expect(await gw.stop()).to.equal(0);
      // Art. 10(6): the record of the message sent carries the drill clock's time too.
      const records = readFileSync(auditFileOf(cz), 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as { messageId?: string; time: string });
      const record = records.find((r) => r.messageId === messageId);
      expect(daysAhead(record?.time), 'the audit record').to.be.within(14.9, 15);
    } finally {
      await ipc.client.close();
      await gw.stop();
      await removeNamespace(cz);
      await removeNamespace(kz);
    }
  });
});
