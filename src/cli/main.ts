#!/usr/bin/env node
/** The `accord` command. */
import { Command, CommanderError } from 'commander';
import { registerAudit } from './audit.js';
import { registerBroker } from './broker.js';
import { registerConfig } from './config.js';
import { registerDlq } from './dlq.js';
import { registerStatus } from './status.js';
import { registerTrace } from './trace.js';
import { registerMessages } from './messages.js';
import { registerDirectory } from './directory.js';
import { registerEnvelope } from './envelope.js';
import { EXIT_USAGE } from './exit.js';
import { registerKeys } from './keys.js';
import { registerSend } from './send.js';
import { registerStart } from './start.js';
import { registerTreaty } from './treaty.js';
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
registerStart(program);
registerSend(program);
registerKeys(program);
registerEnvelope(program);
registerConfig(program);
registerTreaty(program);
registerDirectory(program);
registerBroker(program);
registerDlq(program);
registerStatus(program);
registerAudit(program);
registerTrace(program);
registerMessages(program);
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
