#!/usr/bin/env node
/** The `accord` command. */
import { Command, CommanderError } from 'commander';
import { EXIT_USAGE } from './exit.js';
import { accordVersion } from '../version.js';

/**
 * Commander checks required options before unknown ones, so `--conifg x` was reported as a missing
 * `--config`. Here the required options are checked after the unknown ones (in a preAction hook), with
 * commander's own message, so a typo is named as what it is.
 */
function requiredAfterUnknown(cmd: Command): void {
  for (const sub of cmd.commands) requiredAfterUnknown(sub);
  const required = cmd.options.filter((o) => o.mandatory);
  if (required.length === 0) return;
  for (const o of required) o.mandatory = false;
  cmd.hook('preAction', (_hooked, action) => {
    if (action !== cmd) return;
    for (const o of required) {
      if (cmd.getOptionValue(o.attributeName()) === undefined) {
        cmd.error(`error: required option '${o.flags}' not specified`, {
          code: 'commander.missingMandatoryOptionValue',
        });
      }
    }
  });
}

const program = new Command('accord')
  .description('Accord: the CZ–KZ police-cooperation exchange gateway')
  .version(accordVersion(), '-V, --version', 'print the version')
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });
type Register = (program: Command) => void;
/** Each command and the module that registers it, in the order `accord --help` lists them. */
const COMMANDS: [string, () => Promise<Register>][] = [
  ['start', async () => (await import('./start.js')).registerStart],
  ['send', async () => (await import('./send.js')).registerSend],
  ['keys', async () => (await import('./keys.js')).registerKeys],
  ['envelope', async () => (await import('./envelope.js')).registerEnvelope],
  ['config', async () => (await import('./config.js')).registerConfig],
  ['treaty', async () => (await import('./treaty.js')).registerTreaty],
  ['directory', async () => (await import('./directory.js')).registerDirectory],
  ['broker', async () => (await import('./broker.js')).registerBroker],
  ['dlq', async () => (await import('./dlq.js')).registerDlq],
  ['status', async () => (await import('./status.js')).registerStatus],
  ['audit', async () => (await import('./audit.js')).registerAudit],
  ['trace', async () => (await import('./trace.js')).registerTrace],
  ['messages', async () => (await import('./messages.js')).registerMessages],
  ['conformance', async () => (await import('./conformance.js')).registerConformance],
];
// Only the command given is loaded (each pulls in what it needs: the gateway, crypto, Redis…), so a
// one-off command starts in about half the time. Without a known command (help, --version, a typo)
// all are, so that help lists them and commander can suggest the one meant.
const named = COMMANDS.find(([name]) => name === process.argv[2]);
for (const [, load] of named ? [named] : COMMANDS) (await load())(program);
requiredAfterUnknown(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
  } else {
    throw err;
  }
}
