/**
 * The chaos suite's own RabbitMQ node and Redis server, on their own ports and data directories, so
 * that killing them harms nothing else on the machine. Both are killed with SIGKILL (no clean
 * shutdown) and restarted on the same data.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Resolve when a TCP port accepts connections, or throw after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** A RabbitMQ node of its own (Debian's rabbitmq-server, run as the rabbitmq user by its wrapper). */
export class ChaosRabbit {
  readonly nodename: string;
  private readonly env: NodeJS.ProcessEnv;

  constructor(
    readonly dir: string,
    readonly port: number,
    distPort: number,
  ) {
    this.nodename = `accord-chaos-${port}@localhost`;
    mkdirSync(join(dir, 'mnesia'), { recursive: true });
    mkdirSync(join(dir, 'log'), { recursive: true });
    writeFileSync(join(dir, 'enabled_plugins'), '[].\n');
    writeFileSync(
      join(dir, 'rabbitmq.conf'),
      `listeners.tcp.local = 127.0.0.1:${port}\nloopback_users = none\n`,
    );
    // The Debian wrapper drops to the rabbitmq user, which must own the node's files.
    const ids = spawnSync('id', ['-u', 'rabbitmq'], { encoding: 'utf8' });
    const gids = spawnSync('id', ['-g', 'rabbitmq'], { encoding: 'utf8' });
    if (ids.status === 0 && gids.status === 0) {
      const uid = Number(ids.stdout.trim());
      const gid = Number(gids.stdout.trim());
      for (const p of [
        dir,
        join(dir, 'mnesia'),
        join(dir, 'log'),
        join(dir, 'enabled_plugins'),
        join(dir, 'rabbitmq.conf'),
      ]) {
        chownSync(p, uid, gid);
      }
    }
    this.env = {
      ...process.env,
      RABBITMQ_NODENAME: this.nodename,
      RABBITMQ_NODE_PORT: String(port),
      RABBITMQ_DIST_PORT: String(distPort),
      RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
      RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
      RABBITMQ_LOG_BASE: join(dir, 'log'),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
      RABBITMQ_PID_FILE: join(dir, 'pid'),
    };
  }

  get url(): string {
    return `amqp://guest:guest@127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const r = spawnSync('rabbitmq-server', ['-detached'], { env: this.env, encoding: 'utf8' });
    if (r.error) throw new Error(`cannot run rabbitmq-server: ${r.error.message}`);
    await waitForPort(this.port, 60_000);
  }

  private pid(): number | undefined {
    const f = join(this.dir, 'pid');
    if (!existsSync(f)) return undefined;
    const pid = Number(readFileSync(f, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  }

  /** SIGKILL the node: no clean shutdown, as in a power cut. */
  kill(): void {
    const pid = this.pid();
    if (pid === undefined) return;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }

  async restart(): Promise<void> {
    this.kill();
    await new Promise((r) => setTimeout(r, 500));
    await this.start();
  }

  /** Rows of `rabbitmqctl list_<what> <columns>`, tab-separated, without headers. */
  private async list(what: string, columns: string[]): Promise<string[][]> {
    const { stdout } = await run(
      'rabbitmqctl',
      ['-n', this.nodename, '-q', `list_${what}`, '--no-table-headers', ...columns],
      { env: this.env, encoding: 'utf8', timeout: 30_000 },
    );
    return stdout
      .split('\n')
      .filter((l) => l.trim().length > 0)
      .map((l) => l.split('\t'));
  }

  /** Run `rabbitmqctl -n <this node> <args>` (the node's own environment). */
  private async ctl(args: string[]): Promise<string> {
    const { stdout } = await run('rabbitmqctl', ['-n', this.nodename, ...args], {
      env: this.env,
      encoding: 'utf8',
      timeout: 120_000,
    });
    return stdout;
  }

  /** Join the cluster `seed` belongs to (this node's data is reset by RabbitMQ when it joins). */
  async joinCluster(seed: ChaosRabbit): Promise<void> {
    await this.ctl(['stop_app']);
    await this.ctl(['join_cluster', seed.nodename]);
    await this.ctl(['start_app']);
    await this.ctl(['await_startup']);
  }

  /** The node name of the leader of a quorum queue, asked of this node; undefined when it has none. */
  async queueLeader(queue: string): Promise<string | undefined> {
    const rows = await this.list('queues', ['name', 'leader']);
    const leader = rows.find(([name]) => name === queue)?.[1]?.trim();
    return leader === undefined || leader === '' ? undefined : leader;
  }

  /**
   * The client-side port of the connection whose consumer on `queue` is the active one (a queue with
   * `x-single-active-consumer`), or undefined when there is none. Asked of rabbitmqctl, asynchronously:
   * the suite's own event loop carries the proxied peer link and must not block.
   */
  async activeConsumerPort(queue: string): Promise<number | undefined> {
    const consumers = await this.list('consumers', ['queue_name', 'channel_pid', 'active']);
    const channel = consumers.find(([q, , active]) => q === queue && active === 'true')?.[1];
    if (channel === undefined) return undefined;
    const channels = await this.list('channels', ['pid', 'connection']);
    const connection = channels.find(([pid]) => pid === channel)?.[1];
    if (connection === undefined) return undefined;
    const connections = await this.list('connections', ['pid', 'peer_port']);
    const port = Number(connections.find(([pid]) => pid === connection)?.[1]);
    return Number.isInteger(port) && port > 0 ? port : undefined;
  }
}

/**
 * A RabbitMQ cluster of its own on this machine: `size` nodes (ports, names and data folders of their
 * own; the machine's Erlang cookie), the second and later joined to the first with
 * `rabbitmqctl join_cluster`. docs/cluster.md, "A cluster on one machine", has the same steps by hand.
 */
export class ChaosCluster {
  private constructor(readonly nodes: ChaosRabbit[]) {}

  static async create(dir: string, size: number): Promise<ChaosCluster> {
    const nodes: ChaosRabbit[] = [];
    for (let i = 0; i < size; i++) {
      nodes.push(new ChaosRabbit(join(dir, `rabbitmq-${i + 1}`), await freePort(), await freePort()));
    }
    return new ChaosCluster(nodes);
  }

  /** Start every node and join the others to the first. */
  async start(): Promise<void> {
    const [seed, ...rest] = this.nodes;
    await seed!.start();
    for (const node of rest) {
      await node.start();
      await node.joinCluster(seed!);
    }
  }

  /** The node that leads a quorum queue now, asked of the first node that answers. */
  async leaderOf(queue: string): Promise<ChaosRabbit | undefined> {
    for (const asked of this.nodes) {
      try {
        const name = await asked.queueLeader(queue);
        return this.nodes.find((n) => n.nodename === name);
      } catch {
        // that node is down; ask the next
      }
    }
    return undefined;
  }

  kill(): void {
    for (const n of this.nodes) n.kill();
  }
}

/** The id of the local process that owns the TCP socket bound to `localPort` (`ss`, run as root). */
export async function processOwningPort(localPort: number): Promise<number | undefined> {
  const { stdout } = await run('ss', ['-tnpH', 'state', 'established', `sport = :${localPort}`], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  const pid = /pid=(\d+)/.exec(stdout)?.[1];
  return pid === undefined ? undefined : Number(pid);
}

/** A Redis server of its own, with every write fsynced to its append-only file. */
export class ChaosRedis {
  private child: ChildProcess | undefined;

  constructor(
    readonly dir: string,
    readonly port: number,
  ) {
    mkdirSync(dir, { recursive: true });
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir,
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--save',
        '',
        '--maxmemory-policy',
        'noeviction',
        '--logfile',
        join(this.dir, 'redis.log'),
      ],
      { stdio: 'ignore' },
    );
    await waitForPort(this.port, 30_000);
  }

  kill(): void {
    this.child?.kill('SIGKILL');
  }

  async restart(): Promise<void> {
    const c = this.child;
    this.kill();
    if (c && c.exitCode === null && c.signalCode === null) await new Promise((r) => c.once('exit', r));
    await this.start();
  }
}

/**
 * A gateway in its own process (`accord start`), supervised as systemd's `Restart=always` would:
 * when it exits or is killed, it is started again after `restartDelayMs`.
 */
export class GatewayProcess {
  private child: ChildProcess | undefined;
  private stopping = false;
  /** Where the running process's lines begin in the log. */
  private logFrom = 0;
  restarts = 0;

  constructor(
    readonly name: string,
    private readonly cli: string,
    private readonly configFile: string,
    private readonly logFile: string,
    private readonly restartDelayMs = 1000,
    /** Added to the process's environment (the fault points' folder). */
    private readonly env: Record<string, string> = {},
  ) {}

  /** The operating-system id of the running process, if one runs. */
  get pid(): number | undefined {
    const c = this.child;
    return c && c.exitCode === null && c.signalCode === null ? c.pid : undefined;
  }

  start(): void {
    const out = openSync(this.logFile, 'a');
    this.logFrom = fstatSync(out).size;
    const child = spawn('node', [this.cli, 'start', '--config', this.configFile], {
      stdio: ['ignore', out, out],
      env: { ...process.env, ACCORD_LOG_LEVEL: process.env.ACCORD_LOG_LEVEL ?? 'info', ...this.env },
    });
    this.child = child;
    child.once('exit', () => {
      if (this.stopping || this.child !== child) return;
      this.restarts++;
      setTimeout(() => {
        if (!this.stopping) this.start();
      }, this.restartDelayMs);
    });
  }

  kill(): void {
    this.child?.kill('SIGKILL');
  }

  /**
   * Whether a process of this gateway runs and has logged that it started, waiting up to `timeoutMs`
   * (a fault aimed at a gateway that is still starting after the last one would test nothing).
   */
  async waitUp(timeoutMs = 60_000): Promise<boolean> {
    for (const by = Date.now() + timeoutMs; Date.now() < by;) {
      if (this.pid !== undefined && this.saidSinceStart('"msg":"gateway started"')) return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  }

  /** Wait until the process `pid` is gone and its successor is up (after a kill). */
  async replaced(pid: number, timeoutMs = 60_000): Promise<boolean> {
    const by = Date.now() + timeoutMs;
    while (this.pid === pid && Date.now() < by) await new Promise((r) => setTimeout(r, 50));
    return this.waitUp(Math.max(0, by - Date.now()));
  }

  /** Whether the running process's part of the log contains `what`. */
  private saidSinceStart(what: string): boolean {
    try {
      return readFileSync(this.logFile).subarray(this.logFrom).toString('utf8').includes(what);
    } catch {
      return false;
    }
  }

  /** How many lines of its log (every run of the process) contain `what`. */
  logLines(what: string): number {
    try {
      return readFileSync(this.logFile, 'utf8')
        .split('\n')
        .filter((l) => l.includes(what)).length;
    } catch {
      return 0;
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const c = this.child;
    // A process killed by a signal has no exit code, only a signal code.
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    c.kill('SIGTERM');
    await Promise.race([new Promise((r) => c.once('exit', r)), new Promise((r) => setTimeout(r, 5000))]);
    if (c.exitCode === null) c.kill('SIGKILL');
  }
}
