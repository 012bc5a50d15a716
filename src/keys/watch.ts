/**
 * Running gateways follow key changes made by `accord keys …` without a restart: the CLI
 * writes the key files and `key-state.json`, then publishes on a Redis channel; the gateway reloads
 * its key ring from the files. Expiry is checked at start, on every change and every hour: keys that
 * expire within `keys.expiryWarningDays` are logged with the stable code `keys.expiring`.
 */
import { existsSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { AlertFacts, Alerter } from '../admin/alerts.js';
import type { AccordError } from '../errors.js';
import type { Config } from '../config.js';
import { KeyRing } from '../crypto/keyring.js';
import { keyHistoryPath, recordSigningKeys } from '../crypto/key-history.js';
import { publicHalf } from '../crypto/keygen.js';
import { checkOwnerWritable } from '../crypto/keystore.js';
import { defaultStatePath, expiringKeys, readKeyStateOf } from '../crypto/lifecycle.js';
import { duplicateConnection } from '../store/redis-connect.js';

/** The pub/sub channel that tells gateways their keys or key states changed. */
export function keysChannel(redisPrefix: string): string {
  return `${redisPrefix}keys:changed`;
}

/** Where this gateway's key state lives. */
export function statePathOf(config: Config): string {
  return config.keys.stateFile ?? defaultStatePath(config.keys.privateJwks);
}

/**
 * Load the key ring with its lifecycle state, judged by `now`. The pinned set must not be writable by
 * others, and a missing state file is refused when a set holds several keys of a use (lifecycle.ts).
 */
export async function loadKeyRing(
  config: Config,
  now: () => Date,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<KeyRing> {
  checkOwnerWritable(config.peer.publicJwks);
  const ring = await KeyRing.load(config.keys, config.peer.publicJwks, env);
  const { own, peer } = ring.snapshot();
  return ring.useState(readKeyStateOf(statePathOf(config), { own, peer }), now);
}

/** Log `keys.expiring` for each key that expires within the warning window (never key material). */
export function warnExpiring(ring: KeyRing, config: Config, now: Date, log: Logger, alerts?: Alerter): void {
  for (const k of expiringKeys(ring.lifecycle, now, config.keys.expiryWarningDays)) {
    alerts?.raise('alert.key_expiring', { kid: k.kid, daysLeft: k.daysLeft, kind: k.use });
    const line = {
      code: 'keys.expiring',
      kid: k.kid,
      owner: k.owner,
      use: k.use,
      exp: k.exp,
      daysLeft: k.daysLeft,
    };
    if (k.daysLeft < 0) log.error(line, 'a key has expired');
    else log.warn(line, 'a key expires soon; rotate it (accord keys rotate)');
  }
}

/** What `alert.key_unusable` says of why the keys are unusable: the key set and the kid, no more. */
export function unusableFacts(problem: AccordError): AlertFacts {
  return {
    ...(problem.kid ? { kid: problem.kid.slice(0, 200) } : {}),
    ...(problem.path ? { kind: problem.path } : {}),
  };
}

/**
 * Finding 6: when no key of a use is left to seal with (all revoked, or expired), say so once — at
 * start, after each key change and hourly — with its code, and raise `alert.key_unusable`; the
 * consumers log the waiting messages once a minute, not once each.
 */
export function warnUnusable(ring: KeyRing, log: Logger, alerts?: Alerter): void {
  const problem = ring.unusableError();
  if (problem === undefined) {
    alerts?.resolve('alert.key_unusable');
    return;
  }
  alerts?.open('alert.key_unusable', unusableFacts(problem));
  log.error(
    { code: problem.code, kid: problem.kid, path: problem.path, err: problem.message },
    'no usable key: nothing is sealed until one is (docs/keys.md)',
  );
}

/**
 * Finding 5: the key history holds every own signing key this gateway used, whatever replaced the
 * private set (a rotation records its keys itself; a set replaced by hand is recorded here, at start
 * and on every reload), so its audit checkpoints verify after the key is gone. Only once the key
 * lifecycle is in use (a `key-state.json` or a history exists): a gateway on the keys it was set up
 * with writes nothing beside them, and those keys are still in its set.
 */
export function rememberSigningKeys(ring: KeyRing, config: Config, now: Date, log: Logger): void {
  const statePath = statePathOf(config);
  const historyPath = keyHistoryPath(statePath);
  if (!existsSync(statePath) && !existsSync(historyPath)) return;
  try {
    const own = ring.snapshot().own.map(publicHalf);
    const added = recordSigningKeys(historyPath, own, now);
    if (added > 0) log.info({ added }, 'own signing keys added to the key history');
  } catch (err) {
    log.error(
      { code: (err as { code?: string }).code, err: (err as Error).message },
      'the key history could not be updated; audit checkpoints signed now may not verify once the key is pruned',
    );
  }
}

const HOUR_MS = 3_600_000;

/**
 * Subscribe to key changes and check expiry hourly; returns the function that stops both. A reload
 * that fails keeps the keys in use and logs why (never the file content).
 */
export async function watchKeys(opts: {
  config: Config;
  ring: KeyRing;
  redis: Redis;
  redisPrefix: string;
  log: Logger;
  now: () => Date;
  alerts?: Alerter;
  /** Called after each successful reload (announce what changed). */
  onReload?: () => void;
}): Promise<() => void> {
  const { config, ring, log, now, alerts } = opts;
  const check = () => {
    warnExpiring(ring, config, now(), log, alerts);
    warnUnusable(ring, log, alerts);
    rememberSigningKeys(ring, config, now(), log);
  };
  check();
  const sub = duplicateConnection(opts.redis, (err) =>
    log.warn({ err: err.message }, 'redis error (key changes)'),
  );
  await sub.subscribe(keysChannel(opts.redisPrefix));
  sub.on('message', () => {
    loadKeyRing(config, now)
      .then((fresh) => {
        ring.adopt(fresh);
        log.info({ keys: fresh.lifecycle.keys.length }, 'key sets and states reloaded');
        check();
        opts.onReload?.();
      })
      .catch((err: unknown) =>
        log.error(
          { code: (err as { code?: string }).code, err: (err as Error).message },
          'key reload failed; the keys in use stay',
        ),
      );
  });
  const timer = setInterval(check, HOUR_MS);
  timer.unref();
  return () => {
    clearInterval(timer);
    sub.disconnect();
  };
}
