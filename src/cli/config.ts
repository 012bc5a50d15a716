/** `accord config check FILE`: every problem as `path: message`, exit 2 when there is any. */
import type { Command } from 'commander';
import { checkConfigFile } from '../config.js';
import { EXIT_OK, EXIT_USAGE } from './exit.js';

export function registerConfig(program: Command): void {
  const config = program.command('config').description('configuration files');
  config
    .command('check')
    .argument('<file>', 'the config file to check')
    .description('validate a config file and print every error with its path')
    .action((file: string) => {
      const check = checkConfigFile(file);
      if (check.ok) {
        const c = check.config;
        process.stdout.write(
          `${file}: ok (party ${c.party}, ${c.authorities.length} authorities, peer ${c.peer.party} with ${c.peer.authorities.length})\n`,
        );
        process.exitCode = EXIT_OK;
      } else {
        for (const issue of check.issues) process.stderr.write(`${issue}\n`);
        process.stderr.write(`${file}: ${check.issues.length} problem(s)\n`);
        process.exitCode = EXIT_USAGE;
      }
    });
}
