/**
 * Art. 13: the peer's directory in force — the config's, until an operator approves a signed update
 * (`accord directory approve`). Read at start, and again whenever an approval is published, so running
 * gateways switch at once.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { RedisDirectory } from '../store/redis-directory.js';
import { duplicateConnection } from '../store/redis-connect.js';

/**
 * Keep `peerAuthorities` equal to the directory in force; returns the stopper. The set is filled
 * before this resolves.
 */
export async function watchDirectory(opts: {
  config: Config;
  directory: RedisDirectory;
  redis: Redis;
  peerAuthorities: Set<string>;
  log: Logger;
}): Promise<() => void> {
  const { config, directory, peerAuthorities, log } = opts;
  const apply = async () => {
    const approved = await directory.current();
    const ids = (approved?.authorities ?? config.peer.authorities).map((a) => a.id);
    peerAuthorities.clear();
    for (const id of ids) peerAuthorities.add(id);
    if (approved) {
      log.info(
        { updateId: approved.updateId, authorities: ids.length },
        'peer directory in force: approved update',
      );
    }
  };
  await apply();
  const sub = duplicateConnection(opts.redis, (err) =>
    log.warn({ err: err.message }, 'redis error (directory updates)'),
  );
  await sub.subscribe(directory.channel);
  sub.on('message', () => {
    apply().catch((err: unknown) =>
      log.error({ err: (err as Error).message }, 'could not read the approved directory'),
    );
  });
  return () => sub.disconnect();
}
