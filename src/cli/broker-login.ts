/**
 * Which broker user a command logs in as (docs/security.md). A command that submits (send, treaty
 * suspend | resume | terminate, directory announce) acts as the case system of the authority it
 * submits for, so it needs that authority's broker user (`access.submitters`): the gateway believes
 * `from` only from it. An administrator's command (dlq, status) acts as the gateway
 * (`access.gatewayUser`), whose URL the config's `amqp.url` normally is.
 *
 * The password comes from `--secrets FILE`, a file of `user password` lines as `accord broker setup`
 * writes it (owner-only), or from the URL itself: `amqp.url` is `${ACCORD_AMQP_URL:-…}` in the shipped
 * configs, so `ACCORD_AMQP_URL=amqps://kz-mia:…@broker/` works too.
 */
import { readFileSync, statSync } from 'node:fs';
import type { Config } from '../config.js';
import { AccordError } from '../errors.js';
import { brokerUser } from '../transport/connect.js';

/** The `--secrets` option's help. */
export const SECRETS_HELP =
  'log in with the password of the broker user this command acts as, from this file of "user password" lines (as accord broker setup writes it, mode 600)';

/** The config's `amqp` slice, possibly with another user and password in its URL. */
export type LocalBroker = Config['amqp'];

const MAX_SECRETS_BYTES = 64 * 1024;

/** The password of `user` in a secrets file (`user password` per line, owner-only). */
export function passwordFrom(file: string, user: string): string {
  let mode: number;
  let size: number;
  try {
    ({ mode, size } = statSync(file));
  } catch {
    throw new AccordError('config.invalid', `--secrets ${file} cannot be read`, { path: 'secrets' });
  }
  if ((mode & 0o077) !== 0) {
    throw new AccordError(
      'config.invalid',
      `--secrets ${file} is readable by others than its owner (chmod 600)`,
      {
        path: 'secrets',
      },
    );
  }
  if (size > MAX_SECRETS_BYTES) {
    throw new AccordError('config.invalid', `--secrets ${file} is larger than ${MAX_SECRETS_BYTES} bytes`, {
      path: 'secrets',
    });
  }
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [name, password, ...rest] = line.trim().split(/\s+/);
    if (name === user && password !== undefined && rest.length === 0) return password;
  }
  throw new AccordError('config.invalid', `--secrets ${file} has no password for broker user ${user}`, {
    path: 'secrets',
  });
}

/** The local broker with `user` and `password` in place of the URL's. */
function loggedInAs(amqp: LocalBroker, user: string, password: string): LocalBroker {
  const url = new URL(amqp.url);
  url.username = encodeURIComponent(user);
  url.password = encodeURIComponent(password);
  return { ...amqp, url: url.toString() };
}

/**
 * The local broker as the case system of `authority`. With `access.submitters` listed, the login
 * must be that authority's broker user: from `secrets`, or already in `amqp.url`; anything else is
 * refused here (`config.invalid`), before the gateway would refuse the submission.
 */
export function brokerForSubmitter(
  config: Config,
  authority: string,
  secrets: string | undefined,
): LocalBroker {
  const { submitters } = config.access;
  const expected = submitters.find((s) => s.authority === authority)?.brokerUser;
  if (secrets !== undefined) {
    if (expected === undefined) {
      throw new AccordError('config.invalid', `access.submitters names no broker user for ${authority}`, {
        path: 'access.submitters',
      });
    }
    return loggedInAs(config.amqp, expected, passwordFrom(secrets, expected));
  }
  const actual = brokerUser(config.amqp);
  if (submitters.length > 0 && actual !== expected) {
    throw new AccordError(
      'config.invalid',
      `${authority} submits as broker user ${expected ?? '(none: not in access.submitters)'}, but amqp.url logs in as ${actual}, ` +
        `whom the gateway would not believe; give --secrets FILE (the passwords accord broker setup wrote) ` +
        `or a URL with that user's password (ACCORD_AMQP_URL in the shipped configs)`,
      { path: 'amqp.url' },
    );
  }
  return config.amqp;
}

/** The local broker as the gateway (`access.gatewayUser` with its password from `secrets`), or as `amqp.url` says. */
export function brokerForGateway(config: Config, secrets: string | undefined): LocalBroker {
  if (secrets === undefined) return config.amqp;
  const user = config.access.gatewayUser;
  return loggedInAs(config.amqp, user, passwordFrom(secrets, user));
}
