/**
 * `npm run demo:gateways`: the demo's CZ and KZ gateways, kept running in the foreground for a case
 * system to talk to (examples/case-system). Ctrl-C (SIGINT) or SIGTERM stops both cleanly. Exits 2,
 * saying how to start them, when RabbitMQ or Redis cannot be reached.
 */
import { AccordError, exitCodeOf } from '../errors.js';
import { Gateway } from '../gateway.js';
import { createLogger } from '../log.js';
import { demoConfigs, reachable } from './setup.js';

async function main(): Promise<number> {
  const { cz, kz } = demoConfigs();
  const problem = await reachable(cz);
  if (problem) {
    process.stderr.write(`accord demo gateways: ${problem}\n`);
    return exitCodeOf('infra.unavailable');
  }
  const log = createLogger({ level: process.env.ACCORD_LOG_LEVEL ?? 'warn' }, process.stderr);
  const gateways = [
    await Gateway.start(cz, log.child({ gw: 'CZ' })),
    await Gateway.start(kz, log.child({ gw: 'KZ' })),
  ];
  process.stdout.write(
    `accord demo gateways running: CZ (namespace ${cz.namespace}) and KZ (namespace ${kz.namespace}); ` +
      `case systems publish to ${cz.namespace}.accord.outbox / ${kz.namespace}.accord.outbox. Ctrl-C stops them.\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  for (const gw of gateways) await gw.stop();
  process.stdout.write('accord demo gateways stopped\n');
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(
      `accord demo gateways: ${err instanceof AccordError ? `${err.code}: ` : ''}${(err as Error).message}\n`,
    );
    process.exitCode = err instanceof AccordError ? exitCodeOf(err.code) : 1;
  },
);
