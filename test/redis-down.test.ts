/**
 * Every Redis connection has an `error` listener: when Redis goes away under traffic, neither a
 * gateway (its own connections, the subscribers it duplicates, the ones BullMQ makes for its timers)
 * nor a command prints ioredis's "Unhandled error event". The Redis here is a private redis-server on
 * a spare port, started and killed by this test, so the shared one stays up for the other tests.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import type { SubmissionInput } from '../src/client/index.js';
import { freePort } from '../scripts/chaos/services.js';
import { OwnRedis } from './helpers/own-redis.js';
import {
  CLI,
  ROOT,
  authority,
  configFileFor,
  eventually,
  example,
  ingressWithoutGateway,
  pairConfigs,
  removeNamespace,
  runCli,
  uniqueStem,
  type TestAuthority,
} from './helpers/harness.js';

const UNHANDLED = 'Unhandled error event';

/** `accord start` in a child process; what it wrote to stdout and stderr, and a stopper. */
function startGateway(file: string): {
  output: () => string;
  alive: () => boolean;
  /** SIGTERM, then whether it exited by itself within 20 s (killed with SIGKILL otherwise). */
  stop: () => Promise<boolean>;
} {
  const child = spawn('node', [CLI, 'start', '--config', file], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr.on('data', (b: Buffer) => (output += b.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    output: () => output,
    alive,
    stop: async () => {
      if (alive()) child.kill('SIGTERM');
      // Stopping goes on without a part that waits for the Redis that is gone (5 s a step at most).
      const waited = await Promise.race([
        exited.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), 20_000)),
      ]);
      if (!waited) {
        child.kill('SIGKILL');
        await exited;
      }
      return waited;
    },
  };
}

/** How many lines of `text` contain `what`. */
const count = (text: string, what: string) => text.split('\n').filter((l) => l.includes(what)).length;

describe('Redis going away under traffic', function () {
  this.timeout(120_000);
  const { cz, kz } = pairConfigs(uniqueStem());
  let port: number;
  let redis: OwnRedis | undefined;
  let file: string;

  before(async () => {
    port = await freePort();
    // No persistence (nothing written to disk), and the eviction policy the gateway requires.
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
    redis = OwnRedis.start(
      [...args, '--maxmemory-policy', 'noeviction', '--daemonize', 'no'],
      port,
      '/dev/null',
      'the test’s own Redis',
    );
    await redis.ready(async (r) => ((await r.ping()) === 'PONG' ? true : undefined), 20_000);
    file = configFileFor(cz);
    const raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, any>;
    raw.redis = { url: `redis://127.0.0.1:${port}` };
    writeFileSync(file, JSON.stringify(raw));
  });
  after(async () => {
    redis?.kill();
    await removeNamespace(cz);
    await removeNamespace(kz);
  });

  it('a gateway whose Redis is killed while it sends logs the errors, and prints no unhandled error event', async () => {
    // KZ's ingress without a gateway: what CZ sends stays there.
    await ingressWithoutGateway(kz);
    const gw = startGateway(file);
    let ipc: TestAuthority | undefined;
    let submitting = true;
    let traffic: Promise<void> | undefined;
    let stoppedBySelf: boolean | undefined;
    try {
      await eventually(
        () => Promise.resolve(gw.output().includes('gateway started') ? true : undefined),
        20_000,
        'start',
      );
      ipc = await authority(cz, 'cz-pp-ipc');
      const client = ipc.client;
      traffic = (async () => {
        for (let i = 0; submitting; i++) {
          await client.submit(example('request', `redis-down-${i}`) as SubmissionInput);
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      await ipc.events.waitFor((e) => e.type === 'sent', 20_000, 'a first message sent');
      redis!.kill();
      // Each reconnect attempt of each connection is an error event; wait for several rounds of them,
      // on the gateway's own connection and on the one its BullMQ timers share.
      await eventually(
        () => {
          const out = gw.output();
          const seen = count(out, '"redis error"') >= 3 && count(out, '"redis (timers) error"') >= 3;
          return Promise.resolve(seen ? true : undefined);
        },
        60_000,
        'the gateway to log Redis errors',
      );
      expect(gw.alive(), 'the gateway exited').to.equal(true);
    } finally {
      submitting = false;
      await traffic?.catch(() => undefined);
      await ipc?.client.close();
      stoppedBySelf = await gw.stop();
    }
    expect(stoppedBySelf, 'the gateway stopped on SIGTERM with Redis gone').to.equal(true);
    const unhandled = gw
      .output()
      .split('\n')
      .filter((l) => l.includes(UNHANDLED));
    expect(unhandled, unhandled.slice(0, 3).join('\n')).to.deep.equal([]);
  });

  it('a command whose Redis is down says so in one line (exit 1), with no unhandled error event', async () => {
    const r = await runCli(['directory', 'pending', '--config', file]);
    expect(r.stderr).not.to.include(UNHANDLED);
    expect(r.stderr.trim().split('\n')).to.have.length(1);
    expect(r.stderr).to.match(/^infra\.unavailable: /);
    expect(r.code).to.equal(1);
  });
});
