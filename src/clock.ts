/**
 * The drill clock of `accord start --clock-offset` (docs/operator.md, "Rehearsing deadlines"): the wall
 * clock shifted by a fixed offset, so that operators of a staging pair can rehearse the deadlines of
 * Art. 10(5) (destruction), 17 (a suspension in force fifteen days after notice) and 18 (termination)
 * without waiting for them. The gateway takes it as `now` in `Gateway.start`. Never in production.
 */

/** Milliseconds in each unit an offset may be written in. */
const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 } as const;

/** The largest offset either way: 3660 days, enough for any deadline of the agreement. */
export const MAX_CLOCK_OFFSET_MS = 3660 * UNIT_MS.d;

/** A sign, a whole number without leading zeros, one unit; nothing else. */
const OFFSET = /^([+-])([1-9][0-9]{0,9})([dhms])$/;

/** What an offset is written as, for messages and the documentation. */
export const CLOCK_OFFSET_FORMAT =
  'a sign, a whole number and one unit: d (days of 24 hours), h (hours), m (minutes) or s (seconds), e.g. +15d, -2h, +90m';

/** A parsed offset, or why the text is not one. */
export type ClockOffsetParse = { ok: true; offsetMs: number } | { ok: false; message: string };

/**
 * Parse a clock offset such as `+15d`, `-2h`, `+90m` or `+30s` ({@link CLOCK_OFFSET_FORMAT}). Strict:
 * no missing sign, zero, fraction, space, second unit, upper-case unit or ISO 8601 duration, and at most
 * {@link MAX_CLOCK_OFFSET_MS} either way.
 */
export function parseClockOffset(text: string): ClockOffsetParse {
  const m = OFFSET.exec(text);
  if (m === null) {
    // Quoted as JSON, cut short: what was typed, with no control character reaching the terminal.
    return {
      ok: false,
      message: `--clock-offset ${JSON.stringify(text.slice(0, 40))} is not ${CLOCK_OFFSET_FORMAT}`,
    };
  }
  const [, sign, amount, unit] = m;
  const ms = Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS];
  if (ms > MAX_CLOCK_OFFSET_MS) {
    return { ok: false, message: `--clock-offset ${JSON.stringify(text)} is more than 3660 days` };
  }
  return { ok: true, offsetMs: sign === '-' ? -ms : ms };
}

/** The wall clock shifted by `offsetMs`. */
export function shiftedClock(offsetMs: number, wallMs: () => number = Date.now): () => Date {
  return () => new Date(wallMs() + offsetMs);
}

/** The drill clock for `--clock-offset`, or why it is refused: anything but an offset, or production. */
export function drillClock(
  text: string,
  env: NodeJS.ProcessEnv = process.env,
): { ok: true; offsetMs: number; now: () => Date } | { ok: false; message: string } {
  if (env.NODE_ENV === 'production') {
    return { ok: false, message: '--clock-offset is for drills and is refused with NODE_ENV=production' };
  }
  const parsed = parseClockOffset(text);
  return parsed.ok ? { ...parsed, now: shiftedClock(parsed.offsetMs) } : parsed;
}
