/**
 * In band: key announcements and revocations between the two gateways.
 *
 * Sending side — after `accord keys rotate` (a key in state `next`) or `accord keys revoke` of an own
 * key, the gateway (on its next key reload, and at start) sends the peer a signed `key-announcement`
 * with the new public key and its RFC 7638 thumbprint, or a `key-revocation`. When the peer's receipt
 * for an announcement arrives, the announced key becomes active (unless `--activate-at` scheduled it);
 * the key it replaces keeps verifying and decrypting through `keys.overlapHours`.
 *
 * Receiving side — an announcement, verified with the peer key in force (so the trust of the
 * out-of-band bootstrap carries over), pins the new key at once: its signatures verify, and messages
 * are encrypted to a new encryption key from then on. A revocation marks the peer key revoked: nothing
 * under it is accepted again. Both are recorded (Art. 10(6) `key-operation`).
 *
 * What was sent is remembered in Redis (`keys:announced`, `keys:revocation-sent`), so each goes once.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { parsePublicJwks, readPublicJwks } from '../crypto/jwk.js';
import type { KeyRing } from '../crypto/keyring.js';
import { readKeyState, recordOf } from '../crypto/lifecycle.js';
import { thumbprints } from '../crypto/trust.js';
import { AccordError, ERROR_CODES } from '../errors.js';
import type { GatewayContext } from '../pipeline/context.js';
import { sendKeyMessages, type KeyMessage } from '../pipeline/dispatch.js';
import type { KeyExchange } from '../pipeline/ports.js';
import { activateKey, ownPublicKeys, pinAnnouncedKeys, revokeKey } from './operations.js';
import { keysChannel, loadKeyRing, statePathOf } from './watch.js';

export class GatewayKeyExchange implements KeyExchange {
  private ctx: GatewayContext | undefined;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly deps: {
      config: Config;
      ring: KeyRing;
      redis: Redis;
      prefix: string;
      log: Logger;
      now: () => Date;
    },
  ) {}

  /** The context to send with, once the gateway has built it. */
  attach(ctx: GatewayContext): void {
    this.ctx = ctx;
  }

  private key(name: string) {
    return `${this.deps.prefix}keys:${name}`;
  }

  /** Reload this gateway's ring from the files, and tell the other processes of this party. */
  private async reload(): Promise<void> {
    const { config, ring, redis, prefix, now } = this.deps;
    ring.adopt(await loadKeyRing(config, now));
    await redis.publish(keysChannel(prefix), 'changed');
  }

  /** Send what is due: an announcement for each own `next` key, a revocation for each own revoked key. */
  sendPending(): Promise<void> {
    // One at a time: a reload during a send waits for it rather than sending twice.
    this.running = this.running.then(() => this.sendPendingNow()).catch(() => undefined);
    return this.running;
  }

  private async sendPendingNow(): Promise<void> {
    const { config, redis, log } = this.deps;
    const ctx = this.ctx;
    if (!ctx) return;
    const state = readKeyState(statePathOf(config));
    const due: { rec: (typeof state.keys)[number]; message: KeyMessage }[] = [];
    for (const rec of state.keys.filter((k) => k.owner === 'own')) {
      if (rec.state === 'next' && !(await redis.sismember(this.key('announced'), rec.kid))) {
        const keys = await ownPublicKeys(config, [rec.kid]);
        if (keys.length === 0) continue;
        due.push({
          rec,
          message: {
            key: `key-announcement/${rec.kid}`,
            content: {
              kind: 'key-announcement',
              body: {
                keys: keys,
                thumbprints: thumbprints({ keys }).map((t) => t.thumbprint),
                ...(rec.nbf === undefined ? {} : { activateAt: rec.nbf }),
              },
            },
          },
        });
      }
      if (rec.state === 'revoked' && !(await redis.sismember(this.key('revocation-sent'), rec.kid))) {
        due.push({
          rec,
          message: {
            key: `key-revocation/${rec.kid}`,
            content: {
              kind: 'key-revocation',
              body: {
                kid: rec.kid,
                use: rec.use,
                reason: (rec.reason ?? 'revoked').slice(0, 500),
                revokedAt: rec.revokedAt ?? this.deps.now().toISOString(),
              },
            },
          },
        });
      }
    }
    if (due.length === 0) return;
    // All sealed before any is sent (dispatch.ts): keys rotated together are announced under the same
    // signing key, the one the peer trusts now, however fast its first receipt comes back.
    const sent = await sendKeyMessages(
      ctx,
      due.map((d) => d.message),
      {
        // The announcement's id is known before its receipt can come back (receipted() looks it up).
        stored: async (ids) => {
          for (const { rec, message } of due) {
            const id = ids.get(message);
            if (id !== undefined && message.content.kind === 'key-announcement') {
              await redis.hset(this.key('announcements'), id, rec.kid);
            }
          }
        },
        failed: (m, err) => {
          const rec = due.find((d) => d.message === m)!.rec;
          // E.g. no valid signing key left (docs/keys.md: rotate first, or recover out of band).
          log.error(
            {
              kid: rec.kid,
              code: (err as AccordError).code ?? 'internal.error',
              err: (err as Error).message,
            },
            'a key announcement or revocation could not be sent; it is tried again at the next key reload',
          );
        },
      },
    );
    for (const { rec, message } of due) {
      const id = sent.get(message);
      if (id === undefined) continue;
      if (message.content.kind === 'key-announcement') {
        await redis.sadd(this.key('announced'), rec.kid);
        log.info({ kid: rec.kid, use: rec.use, messageId: id }, 'next key announced to the peer');
      } else {
        await redis.sadd(this.key('revocation-sent'), rec.kid);
        log.warn({ kid: rec.kid, use: rec.use, messageId: id }, 'key revocation sent to the peer');
      }
    }
  }

  async fromPeer(
    env: {
      id: string;
      kind: 'key-announcement' | 'key-revocation';
      body: unknown;
    },
    signedBy?: string,
  ): Promise<string> {
    const { config, now } = this.deps;
    if (!config.keys.acceptAnnouncements) {
      throw new AccordError('keys.announcement_not_accepted', ERROR_CODES['keys.announcement_not_accepted']);
    }
    if (env.kind === 'key-announcement') {
      const body = env.body as { keys: unknown[]; thumbprints: string[]; activateAt?: string };
      const set = parsePublicJwks({ keys: body.keys }, 'the announced keys');
      const computed = thumbprints(set);
      if (
        computed.length !== body.thumbprints.length ||
        computed.some((t, i) => t.thumbprint !== body.thumbprints[i])
      ) {
        throw new AccordError(
          'keys.thumbprint_mismatch',
          'the announced keys do not have the thumbprints announced',
          {
            kid: computed.map((t) => t.kid).join(','),
          },
        );
      }
      // Finding 1: each pinned key remembers the key whose signature carried it, so revoking that key
      // holds it too; a signing key is held until approved by thumbprint (keys.approveAnnouncedSigningKeys).
      const pinned = await pinAnnouncedKeys(config, set, now(), { announcedBy: signedBy });
      await this.reload();
      const held = readKeyState(statePathOf(config)).keys.filter(
        (k) => k.owner === 'peer' && pinned.includes(k.kid) && k.state === 'held',
      );
      for (const k of held) {
        const tp = computed.find((t) => t.kid === k.kid)?.thumbprint;
        this.deps.log.warn(
          { code: 'crypto.key_held', kid: k.kid, use: k.use, thumbprint: tp, announcedBy: signedBy },
          'the peer announced a signing key: it signs nothing until security staff confirm its thumbprint with the peer and run accord keys approve --thumbprint',
        );
      }
      return `peer announced ${computed.map((t) => `${t.use}:${t.kid} (${t.thumbprint})`).join(', ')}; pinned ${pinned.length}${held.length > 0 ? `, held for approval: ${held.map((k) => k.kid).join(', ')}` : ''}`;
    }
    const body = env.body as { kid: string; use: string; reason: string };
    if (!readPublicJwks(config.peer.publicJwks).keys.some((k) => k.kid === body.kid)) {
      throw new AccordError('keys.unknown_kid', 'the peer revoked a key that is not pinned here', {
        kid: body.kid,
      });
    }
    const state = readKeyState(statePathOf(config));
    if (recordOf(state, 'peer', body.kid)?.state !== 'revoked') {
      // Finding 2: a peer message revokes a peer key, never one of ours of the same kid.
      await revokeKey(
        config,
        { kid: body.kid, owner: 'peer' },
        `peer revocation: ${body.reason}`.slice(0, 500),
        now(),
        // The owner says its key is compromised: it goes even when it was the last (the alert says so).
        { force: true },
      );
      await this.reload();
    }
    return `peer revoked ${body.use}:${body.kid}`;
  }

  async receipted(messageId: string): Promise<void> {
    const { config, redis, log, now } = this.deps;
    const kid = await redis.hget(this.key('announcements'), messageId);
    if (kid === null) return;
    const rec = recordOf(readKeyState(statePathOf(config)), 'own', kid);
    // A key scheduled with --activate-at takes over at its nbf by itself.
    if (rec?.state !== 'next' || rec.nbf !== undefined) return;
    await activateKey(config, kid, now());
    await this.reload();
    await this.ctx?.deps.audit.append({
      type: 'key-operation',
      reason: `activated own ${rec.use}:${kid} on the peer's receipt of its announcement`,
      decidedBy: 'gateway',
      refersTo: messageId,
    });
    log.info({ kid, use: rec.use }, 'announced key active: the peer has it');
  }
}
