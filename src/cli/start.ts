/** `accord start --config FILE`: run one gateway in the foreground until SIGTERM or SIGINT. */
import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { Gateway } from '../gateway.js';
import { createLogger } from '../log.js';
import { EXIT_OK, reportError } from './exit.js';

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('run one gateway in the foreground')
    .requiredOption('--config <file>', 'the gateway config (JSON)')
    .action(async (opts: { config: string }) => {
      const log = createLogger();
      let gw: Gateway;
      try {
        gw = await Gateway.start(loadConfig(opts.config), log);
      } catch (err) {
        process.exitCode = reportError(err);
        return;
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
    });
}
