/**
 * `accord config check FILE`: the schema (every problem as `path: message`), then, on a config that
 * passes it, the checks `accord start` runs before it opens anything (src/start-checks.ts: variables,
 * files, TLS material, keys, hooks, the audit folder, references to the directory), each problem as
 * `path: message (code)`. Exit 0 when there is none, else the problems' exit code (2: configuration).
 */
import type { Command } from 'commander';
import { checkConfigFile } from '../config.js';
import { exitCodeOf } from '../errors.js';
import { startProblems } from '../start-checks.js';
import { EXIT_OK, EXIT_USAGE } from './exit.js';

export function registerConfig(program: Command): void {
  const config = program.command('config').description('configuration files');
  config
    .command('check')
    .argument('<file>', 'the config file to check')
    .description('check a config file as accord start would, and print every problem with its path')
    .action(async (file: string) => {
      const check = checkConfigFile(file);
      if (!check.ok) {
        for (const issue of check.issues) process.stderr.write(`${issue}\n`);
        process.stderr.write(`${file}: ${check.issues.length} problem(s)\n`);
        process.exitCode = EXIT_USAGE;
        return;
      }
      const problems = await startProblems(check.config);
      if (problems.length > 0) {
        for (const p of problems) process.stderr.write(`${p.path ?? '(config)'}: ${p.message} (${p.code})\n`);
        process.stderr.write(`${file}: ${problems.length} problem(s)\n`);
        process.exitCode = Math.max(...problems.map((p) => exitCodeOf(p.code)));
        return;
      }
      const c = check.config;
      process.stdout.write(
        `${file}: ok (party ${c.party}, ${c.authorities.length} authorities, peer ${c.peer.party} with ${c.peer.authorities.length})\n`,
      );
      process.exitCode = EXIT_OK;
    });
}
