/**
 * Containers that run (docs/operator.md, "Containers"): the image runs as an unprivileged user that
 * owns what it writes; keys, key state, records and TLS material live on volumes; its HEALTHCHECK asks
 * `/healthz`; the compose file fills the volumes and starts both gateways with admin servers and an
 * amqps peer link. No Docker engine runs here, so these tests read the Dockerfile and
 * docker-compose.yml and run what they say outside Docker: the image's user, paths, environment,
 * command and health check, on a folder tree with the image's ownership (as root only; skipped
 * otherwise), and `docker-compose config -q` when docker-compose is installed.
 */
import { expect } from 'chai';
import { execFile, execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { auditFileOf } from '../src/audit/log.js';
import { checkConfigFile, loadConfig, type Config } from '../src/config.js';
import { keyHistoryPath } from '../src/crypto/key-history.js';
import { statePathOf } from '../src/keys/watch.js';
import {
  AMQP_URL,
  CLI,
  REDIS_URL,
  ROOT,
  eventually,
  removeNamespace,
  uniqueStem,
} from './helpers/harness.js';
import { tempDir } from './helpers/temp.js';
import { startTlsTerminator, tlsMaterial, type TlsTerminator } from './helpers/tls-terminator.js';

type Env = Record<string, string>;
const PARTIES = ['cz', 'kz'] as const;
type Party = (typeof PARTIES)[number];

/** One instruction of the Dockerfile's final stage: its keyword and the rest of its (joined) line. */
interface Instruction {
  op: string;
  args: string;
}

/** The instructions after the last FROM (the image that runs), continuation lines joined. */
function finalStage(): Instruction[] {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const all = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const m = /^(\S+)\s+(.*)$/.exec(l);
      return { op: (m?.[1] ?? l).toUpperCase(), args: m?.[2] ?? '' };
    });
  const from = all.map((i) => i.op).lastIndexOf('FROM');
  return all.slice(from + 1);
}

/** The one instruction `op` of the final stage (the last, as Docker takes it). */
function instruction(stage: Instruction[], op: string): string | undefined {
  return stage.filter((i) => i.op === op).at(-1)?.args;
}

/** An exec-form instruction (`["node", …]`) as its argument list. */
function execForm(args: string | undefined): string[] {
  expect(args, 'an instruction in exec form').to.match(/^\[/);
  return JSON.parse(args!) as string[];
}

/** The Dockerfile's facts that matter to a running container. */
function image() {
  const stage = finalStage();
  const env: Env = {};
  for (const i of stage.filter((s) => s.op === 'ENV')) {
    for (const [, k, v] of i.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=(\S*)/g)) env[k!] = v!;
  }
  const health = instruction(stage, 'HEALTHCHECK') ?? '';
  return {
    user: instruction(stage, 'USER'),
    env,
    volumes: execForm(instruction(stage, 'VOLUME')),
    runs: stage.filter((s) => s.op === 'RUN').map((s) => s.args),
    healthcheck: execForm(health.slice(health.indexOf('CMD') + 3).trim()),
    command: [...execForm(instruction(stage, 'ENTRYPOINT')), ...execForm(instruction(stage, 'CMD'))],
  };
}

/** A compose service, as docker-compose.yml writes it. */
interface Service {
  command?: string[];
  depends_on?: Record<string, { condition: string }>;
  entrypoint?: string[];
  user?: string;
  environment?: Env;
  volumes?: string[];
  ports?: string[];
}

function compose(): { services: Record<string, Service>; volumes: Record<string, unknown> } {
  return parseYaml(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as {
    services: Record<string, Service>;
    volumes: Record<string, unknown>;
  };
}

/** The environment a gateway container has: the image's ENV, then the compose service's. */
function containerEnv(party: string): Env {
  const service = compose().services[`gateway-${party}`];
  expect(service, `service gateway-${party}`).to.not.equal(undefined);
  return { ...image().env, ...service!.environment };
}

/** The container config a gateway service starts with (its `--config`), relative to the image's WORKDIR. */
function configOf(party: string): string {
  const args = compose().services[`gateway-${party}`]?.command ?? [];
  return args[args.indexOf('--config') + 1] ?? '';
}

/** Whether `name` is a program on the PATH. */
function onPath(name: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => d !== '' && existsSync(join(d, name)));
}

/** `cmd args` as uid:gid 1000:1000, the `node` user of Node's image. */
function asImageUser(cmd: string, args: string[]): [string, string[]] {
  return ['setpriv', ['--reuid=1000', '--regid=1000', '--clear-groups', '--', cmd, ...args]];
}

/** Run a command to its end: exit code and output. */
function run(
  cmd: string,
  args: string[],
  opts: { cwd: string; env: Env },
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { ...opts, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = (err as { code?: unknown } | null)?.code;
      resolve({ code: typeof code === 'number' ? code : err ? 1 : 0, stdout, stderr });
    });
  });
}

/**
 * A seed as the compose file mounts it (`./certs-example` with make-tls.sh's `tls/`), and the volumes
 * filled from it by docker/init-volumes.sh, with `owners` (uid:gid of the gateway's and the broker's files).
 */
function filledVolumes(owners: { gateway: string; rabbitmq: string }): { tls: string; volumes: string } {
  const seed = tempDir('seed');
  for (const party of PARTIES)
    cpSync(join(ROOT, 'certs-example', party), join(seed, party), { recursive: true });
  const tls = tlsMaterial();
  cpSync(tls, join(seed, 'tls'), { recursive: true });
  const volumes = join(tempDir('volumes'), 'v');
  execFileSync('sh', [join(ROOT, 'docker', 'init-volumes.sh'), seed, volumes], {
    env: { PATH: process.env.PATH ?? '', ACCORD_OWNER: owners.gateway, RABBITMQ_OWNER: owners.rabbitmq },
    stdio: 'ignore',
  });
  return { tls, volumes };
}

describe('containers: Dockerfile, docker-compose.yml, config/docker', function () {
  this.timeout(60_000);

  it('the container configs are the shipped ones, but for where things are and the admin server', () => {
    // What a container config may change: connections, namespaces, the files it reads and writes.
    const strip = (raw: Record<string, any>) => {
      for (const k of ['namespace', 'amqp', 'redis', 'keys', 'records', 'admin']) delete raw[k];
      for (const k of ['amqpUrl', 'namespace', 'publicJwks', 'tls']) delete raw.peer[k];
      return raw;
    };
    for (const party of PARTIES) {
      const read = (file: string) =>
        JSON.parse(readFileSync(join(ROOT, file), 'utf8')) as Record<string, any>;
      const container = read(`config/docker/${party}.json`);
      expect(container.admin, 'an admin server').to.be.an('object');
      expect(strip(container)).to.deep.equal(strip(read(`config/${party}.json`)));
    }
  });

  it('the image runs as a non-root user, keeps all the gateway writes on volumes it owns, and checks /healthz', () => {
    const img = image();
    expect(img.user, 'USER')
      .to.be.a('string')
      .and.not.match(/^(root|0)(:|$)/);
    const served = compose();
    for (const party of PARTIES) {
      const env = containerEnv(party);
      const check = checkConfigFile(join(ROOT, configOf(party)), env);
      if (!check.ok) expect.fail(check.issues.join('\n'));
      const c = check.config;
      // Every file the gateway writes (records, key state and history, both key sets) and the TLS
      // material it reads lie in a folder the image declares a volume.
      const writes = [
        auditFileOf(c),
        statePathOf(c),
        keyHistoryPath(statePathOf(c)),
        c.keys.privateJwks,
        c.peer.publicJwks,
      ];
      const tls = [c.peer.tls?.ca, c.peer.tls?.cert, c.peer.tls?.key];
      for (const file of [...writes, ...tls]) expect(img.volumes, file).to.include(dirname(file!));
      // …owned by the image's user (a new named volume takes the owner of the image's folder).
      for (const v of img.volumes) {
        expect(img.runs.some((r) => r.includes(`chown ${img.user}:`) && r.includes(v))).to.equal(true, v);
      }
      // The peer link is amqps with a client certificate.
      expect(c.peer.amqpUrl).to.match(/^amqps:\/\//);
      expect(c.peer.tls?.cert).to.be.a('string');
      // The health check asks /healthz on the admin port, which listens where the check reaches it.
      expect(c.admin, 'an admin server').to.not.equal(undefined);
      expect(img.healthcheck.join(' ')).to.contain(`http://127.0.0.1:${c.admin!.port}/healthz`);
      expect(['0.0.0.0', '127.0.0.1']).to.include(c.admin!.host);
      // The service runs the image's user and entrypoint on named volumes at each of its VOLUMEs.
      const service = served.services[`gateway-${party}`]!;
      expect(service.user).to.equal(undefined);
      expect(service.entrypoint).to.equal(undefined);
      for (const v of img.volumes) {
        const mount = service.volumes?.find((m) => m.split(':')[1] === v);
        expect(mount, `a volume at ${v}`).to.be.a('string');
        expect(served.volumes).to.have.property(mount!.split(':')[0]!);
      }
      expect(service.ports?.some((p) => p.endsWith(`:${c.admin!.port}`))).to.equal(true);
    }
    // The image's own command starts a container config.
    expect(img.command.slice(-2)[0]).to.equal('--config');
    expect(img.command.at(-1)).to.match(/^config\/docker\//);
  });

  it('the compose file fills each volume with init-volumes.sh before RabbitMQ and the gateways start', () => {
    const { services } = compose();
    const init = services['init-volumes']!;
    expect(init.entrypoint).to.deep.equal(['sh', '/app/docker/init-volumes.sh']);
    const [seed, root] = init.command ?? [];
    expect(init.volumes).to.include(`./certs-example:${seed}:ro`);
    /** Where the init service mounts a named volume. */
    const initMount = (name: string) => init.volumes?.find((m) => m.startsWith(`${name}:`))?.split(':')[1];
    const filled = (service: string, at: string) => {
      const name = services[service]?.volumes?.find((m) => m.split(':')[1] === at)?.split(':')[0];
      expect(name, `${service}: a volume at ${at}`).to.be.a('string');
      expect(services[service]?.depends_on?.['init-volumes']?.condition).to.equal(
        'service_completed_successfully',
      );
      return initMount(name!);
    };
    // init-volumes.sh writes ROOT/<party>/{keys,audit,tls} and ROOT/rabbitmq-tls.
    for (const party of PARTIES) {
      for (const sub of ['keys', 'audit', 'tls']) {
        expect(filled(`gateway-${party}`, `/var/lib/accord/${sub}`)).to.equal(`${root}/${party}/${sub}`);
      }
    }
    expect(filled('rabbitmq', '/etc/rabbitmq/tls')).to.equal(`${root}/rabbitmq-tls`);
    const conf = readFileSync(join(ROOT, 'docker', 'rabbitmq', 'rabbitmq.conf'), 'utf8');
    for (const f of ['ca.crt', 'server.crt', 'server.key']) expect(conf).to.contain(`/etc/rabbitmq/tls/${f}`);
  });

  it('the container configs pass accord config check with the environment the compose file sets', async () => {
    const own = `${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0}`;
    const { volumes } = filledVolumes({ gateway: own, rabbitmq: own });
    for (const party of PARTIES) {
      const env = {
        PATH: process.env.PATH ?? '',
        ...containerEnv(party),
        ACCORD_DATA_DIR: join(volumes, party),
      };
      const r = await run('node', [CLI, 'config', 'check', configOf(party)], { cwd: ROOT, env });
      expect(r.stderr).to.equal('');
      expect(r.stdout).to.contain(`ok (party ${party.toUpperCase()}`);
      expect(r.code).to.equal(0);
    }
  });

  it('docker-compose config -q accepts the compose file', async function () {
    if (!onPath('docker-compose')) {
      console.log(
        '      skipped: docker-compose is not installed (Debian: apt-get install -y docker-compose)',
      );
      this.skip();
    }
    const r = await run('docker-compose', ['config', '-q'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '' },
    });
    expect(r.stderr).to.equal('');
    expect(r.code).to.equal(0);
  });

  describe("the image's user, paths and command, outside Docker (as root)", function () {
    let app: string;
    let volumes: string;
    let home: string;
    let terminator: TlsTerminator;
    const stem = uniqueStem();
    const containers: Partial<Record<Party, Container>> = {};

    /** A gateway container, as a process of the image's user: its config, environment, log and stop. */
    interface Container {
      config: Config;
      env: Env;
      output(): string;
      /** SIGTERM, then its exit code. */
      stop(): Promise<number | null>;
    }

    /**
     * A gateway service's environment on this host: the local broker and Redis, the peer link through
     * the TLS terminator, namespaces of this run, its volumes, and the admin server on a loopback
     * address of its own (CZ 127.0.0.1, as the image's health check asks; KZ 127.0.0.2, same port).
     */
    const hostEnv = (party: Party): Env => ({
      ...containerEnv(party),
      PATH: `${dirname(process.execPath)}:/usr/bin:/bin`,
      HOME: home,
      ACCORD_AMQP_URL: AMQP_URL,
      ACCORD_REDIS_URL: REDIS_URL,
      // The peer's broker: the local one behind a TLS terminator that demands the client certificate.
      ACCORD_PEER_AMQP_URL: `amqps://guest:guest@127.0.0.1:${terminator.port}`,
      ACCORD_NAMESPACE: `${stem}-${party}`,
      ACCORD_PEER_NAMESPACE: `${stem}-${party === 'cz' ? 'kz' : 'cz'}`,
      ACCORD_DATA_DIR: join(volumes, party),
      ACCORD_ADMIN_HOST: party === 'cz' ? '127.0.0.1' : '127.0.0.2',
    });

    /** Start a gateway service's command (the image's ENTRYPOINT, the service's command) as uid 1000 in /app. */
    async function startContainer(party: Party): Promise<Container> {
      const env = hostEnv(party);
      const config = loadConfig(join(app, configOf(party)), env);
      const img = image();
      const entry = img.command.slice(0, img.command.indexOf('start'));
      const [cmd, args] = asImageUser(entry[0]!, [
        ...entry.slice(1),
        ...compose().services[`gateway-${party}`]!.command!,
      ]);
      const child = spawn(cmd, args, { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (b: Buffer) => (output += b.toString()));
      child.stderr.on('data', (b: Buffer) => (output += b.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      const container: Container = {
        config,
        env,
        output: () => output,
        stop: () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          return exited;
        },
      };
      await eventually(
        () =>
          Promise.resolve(output.includes('gateway started') || child.exitCode !== null ? true : undefined),
        30_000,
        `the ${party} gateway to start`,
      );
      expect(child.exitCode, output).to.equal(null);
      return container;
    }

    /** Run `accord ARGS` as the image's user in /app (as `docker compose exec gateway-<party>` would). */
    const accordAs = (c: Container, args: string[]) => {
      const [cmd, all] = asImageUser('node', ['dist/src/cli/main.js', ...args]);
      return run(cmd, all, { cwd: app, env: c.env });
    };

    /** The audit file's text once it holds `what`. */
    const recorded = (c: Container, what: string) => {
      const file = auditFileOf(c.config);
      return eventually(
        () =>
          Promise.resolve(
            existsSync(file) && readFileSync(file, 'utf8').includes(what)
              ? readFileSync(file, 'utf8')
              : undefined,
          ),
        15_000,
        `${what} in ${file}`,
      );
    };

    before(async function () {
      if (process.getuid?.() !== 0) {
        console.log('      skipped: running as the image user (uid 1000) on its file tree needs root');
        this.skip();
      }
      if (!onPath('setpriv')) {
        console.log('      skipped: setpriv (util-linux) is needed to run as uid 1000');
        this.skip();
      }
      const tree = tempDir('image');
      chmodSync(tree, 0o755);
      app = join(tree, 'app');
      mkdirSync(app, { mode: 0o755 });
      // /app as the image has it, owned by root: the build's output, the packages, the configs.
      symlinkSync(join(ROOT, 'dist'), join(app, 'dist'));
      symlinkSync(join(ROOT, 'node_modules'), join(app, 'node_modules'));
      copyFileSync(join(ROOT, 'package.json'), join(app, 'package.json'));
      cpSync(join(ROOT, 'config'), join(app, 'config'), { recursive: true });
      home = join(tree, 'home-node');
      mkdirSync(home);
      execFileSync('chown', ['1000:1000', home]);
      // The volumes as the compose file's init-volumes service leaves them.
      const filled = filledVolumes({ gateway: '1000:1000', rabbitmq: '999:999' });
      volumes = filled.volumes;
      chmodSync(dirname(volumes), 0o755);
      terminator = await startTlsTerminator(filled.tls);
      for (const party of PARTIES) containers[party] = await startContainer(party);
    });

    after(async () => {
      for (const c of Object.values(containers)) {
        const output = c.output();
        expect(await c.stop(), output).to.equal(0);
        await removeNamespace(c.config);
      }
      terminator?.close();
    });

    it("answers the image's HEALTHCHECK, and is ready with the peer link over TLS", async () => {
      const cz = containers.cz!;
      const img = image();
      const [cmd, args] = asImageUser(img.healthcheck[0]!, img.healthcheck.slice(1));
      expect((await run(cmd, args, { cwd: app, env: cz.env })).code).to.equal(0);
      // Ready: Redis, the audit log and both brokers, the peer's over TLS with the tls volume's material.
      for (const c of Object.values(containers)) {
        const url = `http://${c.config.admin!.host}:${c.config.admin!.port}/readyz`;
        const ready = await eventually(
          async () => {
            const res = await fetch(url, {
              headers: { authorization: `Bearer ${c.env.ACCORD_ADMIN_TOKEN}` },
            });
            return res.status === 200 ? ((await res.json()) as { ready: boolean }) : undefined;
          },
          20_000,
          `${url} to answer 200`,
        );
        expect(ready.ready).to.equal(true);
      }
    });

    it('sends a request from CZ to KZ over amqps, each recording it on its audit volume', async () => {
      const { cz, kz } = containers as Record<Party, Container>;
      const file = join(home, 'request.json');
      writeFileSync(
        file,
        JSON.stringify({
          idempotencyKey: `${stem}/containers`,
          kind: 'request',
          from: 'cz-pp-ipc',
          to: { party: 'KZ', authority: 'kz-mia' },
          body: {
            crimeCategories: ['forgery'],
            informationTypes: ['travel-documents'],
            assistanceTypes: ['search-objects'],
            summary: 'Status of a passport presented with signs of alteration',
          },
        }),
      );
      const sent = await accordAs(cz, ['send', '--config', configOf('cz'), '--file', file]);
      expect(sent.code, sent.stdout + sent.stderr).to.equal(0);
      // The sender's record of provision and the receiver's of receipt (Art. 10(6)).
      for (const c of [cz, kz]) await recorded(c, '"toAuthority":"KZ/kz-mia"');
      for (const c of [cz, kz]) {
        const audit = auditFileOf(c.config);
        expect(dirname(audit)).to.equal(join(volumes, c.config.party.toLowerCase(), 'audit'));
        expect(statSync(audit).uid).to.equal(1000);
      }
    });

    it('writes key-state.json on its keys volume, and the record of the key operation on its audit volume', async () => {
      // docker compose exec gateway-cz accord keys rotate …: the image's user, in /app.
      const cz = containers.cz!;
      const rotated = await accordAs(cz, ['keys', 'rotate', '--config', configOf('cz'), '--use', 'sig']);
      expect(rotated.code, rotated.stderr).to.equal(0);
      const state = statePathOf(cz.config);
      expect(dirname(state)).to.equal(join(volumes, 'cz', 'keys'));
      expect(statSync(state).uid).to.equal(1000);
      expect(statSync(state).mode & 0o777).to.equal(0o600);
      expect(JSON.parse(readFileSync(state, 'utf8'))).to.have.property('keys');
      await recorded(cz, '"type":"key-operation"');
    });

    it('the layout before: the shipped config kept its records under the root-owned /app, which its user cannot write', async () => {
      // The image before had USER node, /app root's, keys copied to a node-owned /app/certs-example
      // by the compose command, and CMD start --config config/cz.json (records in config/var/audit/).
      const keys = join(app, 'certs-example');
      for (const party of PARTIES) {
        mkdirSync(join(keys, party), { recursive: true });
        for (const f of ['private.jwks.json', 'public.jwks.json']) {
          copyFileSync(join(ROOT, 'certs-example', party, f), join(keys, party, f));
          chmodSync(join(keys, party, f), 0o600);
        }
      }
      execFileSync('chown', ['-R', '1000:1000', keys]);
      const r = await accordAs(containers.cz!, ['config', 'check', 'config/cz.json']);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.match(
        /^records\.auditFile: the audit folder is not writable: EACCES \(config\.invalid\)$/m,
      );
    });
  });
});
