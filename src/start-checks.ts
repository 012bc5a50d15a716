/**
 * What a gateway checks before it opens anything, and `accord config check` checks too: one list, so
 * a config the check passes is one the start accepts, up to the network. The schema (config.ts) has
 * been applied already; these checks resolve what it cannot see: every environment variable the config
 * names is set, every file it names opens (keys, TLS material, hooks, the admin token file) and the
 * audit folder is writable, and what the config refers to is in the directory (Art. 13). None dials a
 * broker or Redis: an outage is not a configuration problem (a gateway starts in one).
 *
 * A problem is an AccordError with its code and the config path at fault, never a secret's value. To
 * add a check, write it as a {@link StartCheck} of (config, env) and list it in {@link START_CHECKS}.
 */
import { closeSync, constants, accessSync, existsSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { readAdminToken, readWebhookSecret } from './admin/token.js';
import { auditFileOf } from './audit/log.js';
import type { Config } from './config.js';
import { AccordError, asAccordError, type ErrorCode } from './errors.js';
import { FAULTS_ENV } from './faults.js';
import { loadKeyRing } from './keys/watch.js';
import { startHooks } from './policy/hook-pool.js';
import { checkBrokerUrl } from './transport/connect.js';
import { tlsSocketOptions, type TlsConfig } from './transport/tls.js';

/** The environment the config's `${NAME}`s and `…Env` fields are read from. */
export type Env = Readonly<Record<string, string | undefined>>;

/** One check: every problem it finds (none: an empty list). A check that throws counts as its error. */
export type StartCheck = (config: Config, env: Env) => AccordError[] | Promise<AccordError[]>;

/** A check that reads the config, the environment and files, and answers at once. */
export type SyncStartCheck = (config: Config, env: Env) => AccordError[];

/** A file the config names, with its config path and the code of a problem with it. */
interface NamedFile {
  path: string;
  file: string;
  code: ErrorCode;
}

/** Every file the config names that must exist and open: keys, TLS material, hooks, the token file. */
function namedFiles(config: Config): NamedFile[] {
  const files: NamedFile[] = [
    { path: 'keys.privateJwks', file: config.keys.privateJwks, code: 'keys.invalid' },
    { path: 'peer.publicJwks', file: config.peer.publicJwks, code: 'keys.invalid' },
  ];
  if (config.keys.passphraseFile !== undefined) {
    files.push({ path: 'keys.passphraseFile', file: config.keys.passphraseFile, code: 'keys.invalid' });
  }
  const tls = (section: string, t: Readonly<TlsConfig> | undefined) => {
    if (t === undefined) return;
    files.push({ path: `${section}.ca`, file: t.ca, code: 'config.invalid' });
    if (t.cert !== undefined) files.push({ path: `${section}.cert`, file: t.cert, code: 'config.invalid' });
    if (t.key !== undefined) files.push({ path: `${section}.key`, file: t.key, code: 'keys.invalid' });
  };
  tls('amqp.tls', config.amqp.tls);
  tls('peer.tls', config.peer.tls);
  config.policy.hooks.forEach((h, i) =>
    files.push({ path: `policy.hooks.${i}.module`, file: h.module, code: 'config.invalid' }),
  );
  if (config.admin?.tokenFile !== undefined) {
    files.push({ path: 'admin.tokenFile', file: config.admin.tokenFile, code: 'config.invalid' });
  }
  if (config.admin?.tls !== undefined) {
    files.push({ path: 'admin.tls.certFile', file: config.admin.tls.certFile, code: 'config.invalid' });
    files.push({ path: 'admin.tls.keyFile', file: config.admin.tls.keyFile, code: 'keys.invalid' });
  }
  if (config.alerts.webhookSecretFile !== undefined) {
    files.push({
      path: 'alerts.webhookSecretFile',
      file: config.alerts.webhookSecretFile,
      code: 'config.invalid',
    });
  }
  return files;
}

/** Why a file cannot be opened for reading (its errno, or "not a file"), or undefined when it can. */
function unreadable(file: string): string | undefined {
  try {
    if (!statSync(file).isFile()) return 'not a file';
    closeSync(openSync(file, 'r'));
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? 'unreadable';
  }
}

/** Every file the config names opens for reading. */
export const filesOpen: SyncStartCheck = (config) =>
  namedFiles(config).flatMap(({ path, file, code }) => {
    const why = unreadable(file);
    return why === undefined ? [] : [new AccordError(code, `${file} cannot be read (${why})`, { path })];
  });

/** Whether any of the named files under these config paths failed {@link filesOpen} (not to report it twice). */
function anyUnreadable(config: Config, under: (path: string) => boolean): boolean {
  return namedFiles(config).some((f) => under(f.path) && unreadable(f.file) !== undefined);
}

/** Every environment variable the config names by an `…Env` field is set (`${NAME}` strings: config.ts). */
export const variablesSet: SyncStartCheck = (config, env) => {
  const named: [string, string | undefined][] = [
    ['keys.passphraseEnv', config.keys.passphraseEnv],
    ['admin.tokenEnv', config.admin?.tokenEnv],
    ['alerts.webhookSecretEnv', config.alerts.webhookSecretEnv],
    ['amqp.tls.passphraseEnv', config.amqp.tls?.passphraseEnv],
    ['peer.tls.passphraseEnv', config.peer.tls?.passphraseEnv],
  ];
  return named
    .filter(([, name]) => name !== undefined && env[name] === undefined)
    .map(
      ([path, name]) =>
        new AccordError('config.invalid', `environment variable ${name} is not set`, { path }),
    );
};

/** Fault points (faults.ts) are for the chaos suite: never on a production gateway. */
export const noFaultPoints: SyncStartCheck = (_config, env) =>
  env.NODE_ENV === 'production' && (env[FAULTS_ENV] ?? '') !== ''
    ? [
        new AccordError(
          'config.invalid',
          `${FAULTS_ENV} turns on the chaos suite's fault points and is refused with NODE_ENV=production`,
        ),
      ]
    : [];

/** The admin server's token is there and long enough (admin/token.ts), when the config has an admin server. */
export const adminToken: SyncStartCheck = (config, env) => {
  if (config.admin === undefined) return [];
  if (config.admin.tokenEnv !== undefined && env[config.admin.tokenEnv] === undefined) return []; // variablesSet
  if (anyUnreadable(config, (p) => p === 'admin.tokenFile')) return [];
  readAdminToken(config.admin, env);
  return [];
};

/** The alert webhook's signing secret is there and long enough, when the config has a webhook. */
export const webhookSecret: SyncStartCheck = (config, env) => {
  const { alerts } = config;
  if (alerts.webhookSecretEnv !== undefined && env[alerts.webhookSecretEnv] === undefined) return []; // variablesSet
  if (anyUnreadable(config, (p) => p === 'alerts.webhookSecretFile')) return [];
  readWebhookSecret(alerts, env);
  return [];
};

/** Both broker URLs can be dialled (parse, amqp: or amqps:, a host). */
export const brokerUrls: SyncStartCheck = (config) =>
  [config.amqp, config.peer].flatMap((slice) => {
    try {
      checkBrokerUrl(slice);
      return [];
    } catch (err) {
      return [asAccordError(err)];
    }
  });

/** The TLS material of both broker connections is usable, as a connection would read it (tls.ts). */
export const tlsMaterial: SyncStartCheck = (config, env) => {
  const problems: AccordError[] = [];
  for (const [section, t] of [
    ['amqp.tls', config.amqp.tls],
    ['peer.tls', config.peer.tls],
  ] as const) {
    if (t === undefined || anyUnreadable(config, (p) => p.startsWith(`${section}.`))) continue;
    if (t.passphraseEnv !== undefined && env[t.passphraseEnv] === undefined) continue; // variablesSet
    try {
      tlsSocketOptions(t, section, env);
    } catch (err) {
      problems.push(asAccordError(err));
    }
  }
  return problems;
};

/** The key ring loads: the private set (decrypted), the pinned peer set, the key state (keys/watch.ts). */
export const keyRing: StartCheck = async (config, env) => {
  if (anyUnreadable(config, (p) => p.startsWith('keys.') || p === 'peer.publicJwks')) return [];
  if (config.keys.passphraseEnv !== undefined && env[config.keys.passphraseEnv] === undefined) return [];
  try {
    await loadKeyRing(config, () => new Date(), env);
    return [];
  } catch (err) {
    const e = asAccordError(err);
    if (e.path !== undefined) return [e];
    const path = e.code === 'keys.state_missing' ? 'keys.stateFile' : 'keys';
    return [new AccordError(e.code, e.message, { path, cause: e })];
  }
};

/** Every Art. 9(4) hook module loads and exports a hook (policy/hooks.ts). */
export const refusalHooks: StartCheck = async (config) => {
  if (anyUnreadable(config, (p) => p.startsWith('policy.hooks.'))) return [];
  // Loaded where the gateway runs them, on their worker threads, then stopped again.
  await (await startHooks(config.policy.hooks)).close();
  return [];
};

/**
 * The Art. 10(6) audit file can be written: the nearest folder of its path that exists is a folder
 * this process may create files in (the gateway creates the rest), and the file, if it exists, is a
 * writable file.
 */
export const auditFolder: SyncStartCheck = (config) => {
  const file = auditFileOf(config);
  const problem = (message: string) => [
    new AccordError('config.invalid', message, { path: 'records.auditFile' }),
  ];
  let dir = dirname(file);
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  try {
    if (!statSync(dir).isDirectory()) return problem(`${dir} is not a folder, so ${file} cannot be created`);
    accessSync(dir, constants.W_OK | constants.X_OK);
    if (existsSync(file)) {
      if (!statSync(file).isFile()) return problem(`${file} is not a file`);
      accessSync(file, constants.W_OK);
    }
    return [];
  } catch (err) {
    return problem(`the audit folder is not writable: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
};

/**
 * What the config refers to is a listed authority of this party (Art. 13): the notifying authorities
 * (Art. 17), the routing targets of `policy.competence` (Art. 9(2)) and the authorities whose requests
 * a refusal rule screens or holds for review (`toAuthorities`, Art. 9(4)). (`fromAuthorities` name the
 * peer's authorities, whose directory an approved `directory-update` may extend beyond the config.)
 */
export const directoryReferences: SyncStartCheck = (config) => {
  const own = new Set(config.authorities.map((a) => a.id));
  const problems: AccordError[] = [];
  const check = (id: string, path: string) => {
    if (!own.has(id)) {
      problems.push(
        new AccordError('config.invalid', `${id} is not one of this party's listed authorities`, { path }),
      );
    }
  };
  config.treaty.notifyingAuthorities.forEach((id, i) => check(id, `treaty.notifyingAuthorities.${i}`));
  config.policy.competence.forEach((c, i) => check(c.authority, `policy.competence.${i}.authority`));
  config.policy.refusalRules.forEach((r, i) =>
    r.when.toAuthorities?.forEach((id, j) => check(id, `policy.refusalRules.${i}.when.toAuthorities.${j}`)),
  );
  return problems;
};

/** The checks, in the order their problems are listed. */
export const START_CHECKS: readonly StartCheck[] = [
  variablesSet,
  filesOpen,
  brokerUrls,
  noFaultPoints,
  adminToken,
  webhookSecret,
  tlsMaterial,
  keyRing,
  refusalHooks,
  auditFolder,
  directoryReferences,
];

/** Every problem the checks find in a schema-checked config; none: the gateway may start. */
export async function startProblems(
  config: Config,
  env: Env = process.env,
  checks: readonly StartCheck[] = START_CHECKS,
): Promise<AccordError[]> {
  const problems: AccordError[] = [];
  for (const check of checks) {
    try {
      problems.push(...(await check(config, env)));
    } catch (err) {
      problems.push(asAccordError(err));
    }
  }
  return problems;
}

/**
 * Throw the first problem {@link startProblems} finds, as one line that says how many more there are
 * (`accord config check` lists them all); resolve when there is none.
 */
export async function assertStartable(config: Config, env: Env = process.env): Promise<void> {
  const [first, ...more] = await startProblems(config, env);
  if (first === undefined) return;
  if (more.length === 0) throw first;
  throw new AccordError(
    first.code,
    `${first.message} (and ${more.length} more problem(s): accord config check lists them)`,
    { ...(first.path === undefined ? {} : { path: first.path }), cause: first },
  );
}
