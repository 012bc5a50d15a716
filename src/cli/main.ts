#!/usr/bin/env node
/** The `accord` command. */
import { Command, CommanderError } from 'commander';
import { registerAudit } from './audit.js';
import { registerBroker } from './broker.js';
import { registerConfig } from './config.js';
import { registerDlq } from './dlq.js';
import { registerStatus } from './status.js';
import { registerTrace } from './trace.js';
import { registerDirectory } from './directory.js';
import { registerEnvelope } from './envelope.js';
import { EXIT_USAGE } from './exit.js';
import { registerKeys } from './keys.js';
import { registerSend } from './send.js';
import { registerStart } from './start.js';
import { registerTreaty } from './treaty.js';

const program = new Command('accord')
  .description('Accord: the CZ–KZ police-cooperation exchange gateway')
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

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
  } else {
    throw err;
  }
}
