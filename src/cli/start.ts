/**
 * `accord start --config FILE [--clock-offset OFFSET]`: run one gateway in the foreground until
 * SIGTERM or SIGINT; with a clock offset, on a drill clock (src/clock.ts), never in production. A start
 * that fails prints one line, `code: message (at path)`, and exits with the code's exit code (2 for
 * configuration, 1 for an operation that failed, e.g. this party's own broker or Redis unreachable);
 * the peer's broker being away is no failure (compose.ts).
 */
import type { Command } from 'commander';
import { drillClock } from '../clock.js';
import { loadConfig } from '../config.js';
import { Gateway } from '../gateway.js';
import { createLogger } from '../log.js';
import { EXIT_OK, EXIT_USAGE, onOneLine, reportError } from './exit.js';

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('run one gateway in the foreground')
    .requiredOption('--config <file>', 'the gateway config (JSON)')
    .option(
      '--clock-offset <offset>',
      'drills only: run on a clock shifted by OFFSET, e.g. +15d, -2h, +90m (refused with NODE_ENV=production)',
    )
    .action(async (opts: { config: string; clockOffset?: string }) => {
      let now: (() => Date) | undefined;
      if (opts.clockOffset !== undefined) {
        const drill = drillClock(opts.clockOffset);
        if (!drill.ok) {
          process.stderr.write(`accord start: ${drill.message}\n`);
          process.exitCode = EXIT_USAGE;
          return;
        }
        now = drill.now;
      }
      const log = createLogger();
      if (now !== undefined) {
        log.warn(
          { clockOffset: opts.clockOffset, drillNow: now().toISOString() },
          `DRILL CLOCK: this gateway runs ${opts.clockOffset} off the real time; every timestamp and deadline it writes is shifted. Never in production; the peer gateway must run with the same offset`,
        );
      }
      let gw: Gateway;
      try {
        gw = await Gateway.start(loadConfig(opts.config), log, now);
      } catch (err) {
        // One line, and out: a failed start has closed what it opened (compose.ts), and whatever a
        // library may still hold open must not keep a gateway that never started alive.
        process.exit(reportError(onOneLine(err)));
      }
      await new Promise<void>((resolve) => {
        const stop = (code: number) => () => {
          process.exitCode = code;
          resolve();
        };
        process.once('SIGTERM', stop(EXIT_OK));
        process.once('SIGINT', stop(EXIT_OK));
      });
      await gw.stop();
      // Stopped: what a library still holds open (a client retrying a Redis that is gone) must not keep
      // the process alive.
      process.exit(process.exitCode ?? EXIT_OK);
    });
}
