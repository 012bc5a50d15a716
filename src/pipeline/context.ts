/** What every pipeline stage shares: the config slice, queue names, keys and ports. */
import type { Config, Names } from '../config.js';
import type { KeyRing } from '../crypto/keyring.js';
import type { CryptoProfile } from '../crypto/profile.js';
import type { StatusEvent } from '../domain/events.js';
import type { PipelineDeps } from './ports.js';

export interface GatewayContext {
  readonly config: Config;
  readonly names: Names;
  readonly peerNames: Names;
  readonly keys: KeyRing;
  readonly profile: CryptoProfile;
  readonly deps: PipelineDeps;
  readonly ownAuthorities: ReadonlySet<string>;
  readonly peerAuthorities: ReadonlySet<string>;
}

/** A dead letter: what could not be processed, why, and nothing personal (DESIGN §3). */
export interface DeadLetter {
  at: string;
  source: 'outbox' | 'ingress';
  code: string;
  message: string;
  path?: string;
  messageId?: string;
  kid?: string;
  /** SHA-256 of the input as received, to find it in broker or client logs. */
  inputSha256: string;
  inputBytes: number;
  /** For ingress failures: the sealed message itself (ciphertext), so it can be replayed. */
  jwe?: string;
}

/** Publish a status event to the authority's events queue. */
export async function emitEvent(ctx: GatewayContext, authority: string, event: StatusEvent): Promise<void> {
  await ctx.deps.local.publish(ctx.names.events(authority), Buffer.from(JSON.stringify(event)), {
    contentType: 'application/json',
    type: `accord.event.${event.type}`,
    ...(event.messageId === undefined ? {} : { messageId: event.messageId }),
  });
}

/** Park a record in `accord.dlq`. */
export async function deadLetter(ctx: GatewayContext, letter: DeadLetter): Promise<void> {
  await ctx.deps.local.publish(ctx.names.dlq, Buffer.from(JSON.stringify(letter)), {
    contentType: 'application/json',
    type: `accord.dlq.${letter.code}`,
    ...(letter.messageId === undefined ? {} : { messageId: letter.messageId }),
  });
}
