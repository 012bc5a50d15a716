/**
 * `npm run example`: runs examples/case-system against the demo gateways, starting them first (in a
 * child process, `npm run demo:gateways`) when they are not running, and stopping them afterwards.
 * The example itself only talks to running gateways; this wrapper is what makes it one command.
 * Exits with the example's exit code.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, demoConfigs, gatewayRunning, reachable } from '../src/demo/setup.js';

/** Start the demo gateways in a child process, unless they are running; resolves when they are. */
async function ensureGateways(): Promise<ChildProcess | undefined> {
  const { cz } = demoConfigs();
  if (await gatewayRunning(cz)) return undefined;
  process.stdout.write('demo gateways not running; starting them (npm run demo:gateways)\n');
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'src', 'demo', 'gateways.js')], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: process.env,
  });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the demo gateways exited with ${code}`)));
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString('utf8').includes('running')) resolve();
    });
  });
  return child;
}

async function main(): Promise<number> {
  const { cz, kz } = demoConfigs();
  const problem = await reachable(cz);
  if (problem) {
    process.stderr.write(`npm run example: ${problem}\n`);
    return 1;
  }
  const gateways = await ensureGateways();
  // The example's settings for the demo gateways (their namespaces follow ACCORD_DEMO_PREFIX).
  const dir = mkdtempSync(join(tmpdir(), 'accord-example-'));
  const file = join(dir, 'desks.json');
  writeFileSync(
    file,
    JSON.stringify({
      requester: { url: cz.amqp.url, party: 'CZ', namespace: cz.namespace, authority: 'cz-pp-ipc' },
      responder: { url: kz.amqp.url, party: 'KZ', namespace: kz.namespace, authority: 'kz-mia' },
    }),
  );
  try {
    const example = spawn(
      process.execPath,
      [join(ROOT, 'dist', 'examples', 'case-system', 'main.js'), '--config', file],
      { stdio: 'inherit', env: process.env },
    );
    return await new Promise<number>((resolve) => example.once('exit', (code) => resolve(code ?? 1)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
    if (gateways) {
      gateways.kill('SIGTERM');
      await new Promise((resolve) => gateways.once('exit', resolve));
    }
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`npm run example: ${(err as Error).message}\n`);
    process.exitCode = 1;
  },
);
