/** The admin server's bearer token, from the environment or an owner-only file. */
import { readFileSync, statSync } from 'node:fs';
import type { Config } from '../config.js';
import { AccordError } from '../errors.js';

/** Read the token named by the config (`admin.tokenEnv` or `admin.tokenFile`), at least 32 characters. */
export function readAdminToken(
  admin: NonNullable<Config['admin']>,
  env: NodeJS.ProcessEnv = process.env,
): string {
  let token: string | undefined;
  if (admin.tokenEnv !== undefined) token = env[admin.tokenEnv];
  if (admin.tokenFile !== undefined) {
    const st = statSync(admin.tokenFile, { throwIfNoEntry: false });
    if (!st || st.size > 4096) {
      throw new AccordError('config.invalid', 'admin.tokenFile is missing or too large', {
        path: 'admin.tokenFile',
      });
    }
    if ((st.mode & 0o077) !== 0) {
      throw new AccordError('config.invalid', 'admin.tokenFile is readable by others (chmod 600)', {
        path: 'admin.tokenFile',
      });
    }
    token = readFileSync(admin.tokenFile, 'utf8').trim();
  }
  if (token === undefined || token.length < 32) {
    throw new AccordError('config.invalid', 'the admin token is missing or shorter than 32 characters', {
      path: admin.tokenEnv !== undefined ? 'admin.tokenEnv' : 'admin.tokenFile',
    });
  }
  return token;
}
