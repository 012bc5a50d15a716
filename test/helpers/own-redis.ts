/**
 * A `redis-server` process of a test's own (a Redis, a replica or a Sentinel on a free port), started and
 * stopped by the test; its log file says why when it does not come up.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { Redis } from 'ioredis';

/** A `redis-server` process of this test's own; its log file says why when it does not come up. */
export class OwnRedis {
  private exited: string | undefined;
  private stderr = '';

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    private readonly logFile: string,
    private readonly what: string,
  ) {
    child.stderr?.on('data', (b: Buffer) => {
      this.stderr = (this.stderr + b.toString('utf8')).slice(-2000);
    });
    child.once('error', (err: NodeJS.ErrnoException) => {
      this.exited = err.code === 'ENOENT' ? 'redis-server is not on the PATH' : err.message;
    });
    child.once('exit', (code, signal) => {
      this.exited ??= `it exited (${signal ?? `code ${code}`})`;
    });
  }

  static start(args: string[], port: number, logFile: string, what: string): OwnRedis {
    return new OwnRedis(
      spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] }),
      port,
      logFile,
      what,
    );
  }

  /** Poll `probe` on a fresh connection until it answers; fail with the process's log when it cannot. */
  async ready<T>(probe: (r: Redis) => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      if (this.exited === undefined) {
        const r = new Redis({
          host: '127.0.0.1',
          port: this.port,
          lazyConnect: true,
          retryStrategy: () => null,
          maxRetriesPerRequest: 0,
        });
        r.on('error', () => undefined);
        try {
          await r.connect();
          const v = await probe(r);
          if (v !== undefined) return v;
          last = 'no answer yet';
        } catch (err) {
          last = (err as Error).message;
        } finally {
          r.disconnect();
        }
      }
      if (this.exited !== undefined || Date.now() > deadline) {
        const log = existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8').slice(-2000) : '';
        throw new Error(
          `${this.what} did not come up on 127.0.0.1:${this.port}: ${this.exited ?? last}. ` +
            `This test needs redis-server with Sentinel mode (Debian package redis-server). ` +
            `Output:\n${this.stderr}${log}`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Kill it at once (SIGKILL), as a crash would. */
  kill(): void {
    this.child.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    const c = this.child;
    if (c.exitCode !== null || c.signalCode !== null || this.exited !== undefined) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
}
