/** The admin server's bearer token and the alert webhook's signing secret: from the environment or an owner-only file. */
import { readFileSync, statSync } from 'node:fs';
import type { Config } from '../config.js';
import { AccordError } from '../errors.js';

/**
 * Read a secret of at least 32 characters from the variable `fromEnv` names, or from the file
 * `fromFile` names (owner-only, at most 4 KiB); `paths` are the config fields named in errors.
 */
function readSecret(
  source: { fromEnv: string | undefined; fromFile: string | undefined },
  paths: { env: string; file: string; what: string },
  env: NodeJS.ProcessEnv,
): string {
  let secret: string | undefined;
  if (source.fromEnv !== undefined) secret = env[source.fromEnv];
  if (source.fromFile !== undefined) {
    const st = statSync(source.fromFile, { throwIfNoEntry: false });
    if (!st || st.size > 4096) {
      throw new AccordError('config.invalid', `${paths.file} is missing or too large`, { path: paths.file });
    }
    if ((st.mode & 0o077) !== 0) {
      throw new AccordError('config.invalid', `${paths.file} is readable by others (chmod 600)`, {
        path: paths.file,
      });
    }
    secret = readFileSync(source.fromFile, 'utf8').trim();
  }
  if (secret === undefined || secret.length < 32) {
    throw new AccordError('config.invalid', `${paths.what} is missing or shorter than 32 characters`, {
      path: source.fromEnv !== undefined ? paths.env : paths.file,
    });
  }
  return secret;
}

/** Read the token named by the config (`admin.tokenEnv` or `admin.tokenFile`), at least 32 characters. */
export function readAdminToken(
  admin: NonNullable<Config['admin']>,
  env: NodeJS.ProcessEnv = process.env,
): string {
  return readSecret(
    { fromEnv: admin.tokenEnv, fromFile: admin.tokenFile },
    { env: 'admin.tokenEnv', file: 'admin.tokenFile', what: 'the admin token' },
    env,
  );
}

/**
 * The alert webhook's signing secret (`alerts.webhookSecretEnv` or `alerts.webhookSecretFile`, at least
 * 32 characters); undefined without a webhook.
 */
export function readWebhookSecret(
  alerts: Config['alerts'],
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (alerts.webhookUrl === undefined) return undefined;
  return readSecret(
    { fromEnv: alerts.webhookSecretEnv, fromFile: alerts.webhookSecretFile },
    { env: 'alerts.webhookSecretEnv', file: 'alerts.webhookSecretFile', what: 'the alert webhook secret' },
    env,
  );
}
