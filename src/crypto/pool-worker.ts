/**
 * The worker side of the crypto pool (pool.ts): rebuilds each key ring from the snapshot the pool sends
 * once per key-ring change, then runs the very same {@link seal} and {@link open} as the inline path, one
 * job or several at a time, with the ring's clock fixed, per job, to the instant it was submitted. Errors go back as
 * their stable code and facts only, never with a cause, plaintext or key material.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { MessagePort } from 'node:worker_threads';
import { AccordError, type ErrorCode } from '../errors.js';
import { KeyRing, type RingSnapshot } from './keyring.js';
import { open, openAny, type OpenFacts, type OpenedTransfer } from './open.js';
import type { CryptoProfile } from './profile.js';
import { seal, sealTransfer, type SealedTransfer } from './seal.js';

/** The keys of one ring, sent before its first job and again after each change. */
export interface KeysMessage {
  type: 'keys';
  ringId: number;
  snapshot: RingSnapshot;
}

/** One seal or open. `nowMs` is the ring's clock when the job was submitted. */
export type JobMessage = {
  id: number;
  ringId: number;
  nowMs: number;
  profile: CryptoProfile;
} & (
  | { type: 'seal'; payload: Uint8Array }
  | { type: 'open' | 'open-any'; input: Uint8Array | string }
  | { type: 'seal-transfer'; members: string[]; meta: { createdAt: string; transfer?: string } }
);

export type ToWorker = KeysMessage | JobMessage;

/** The error of a failed job: an AccordError's public form, or only a message for anything else. */
export interface WorkerError {
  code?: ErrorCode;
  message: string;
  path?: string;
  messageId?: string;
  kid?: string;
}

export type FromWorker =
  | { id: number; ok: true; jwe: string }
  | { id: number; ok: true; payload: Uint8Array; facts: OpenFacts }
  | { id: number; ok: true; sealed: SealedTransfer }
  | { id: number; ok: true; transfer: OpenedTransfer; facts: OpenFacts }
  | { id: number; ok: false; error: WorkerError };

/** Optional test seams around each job (a stalled worker for the watchdog's test). */
export interface ServeHooks {
  beforeJob?: (job: JobMessage) => void;
}

const asBuffer = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

/** Answer jobs arriving on `port` until the thread is terminated. */
export function serve(port: MessagePort, hooks: ServeHooks = {}): void {
  const rings = new Map<number, Promise<KeyRing>>();
  // Jobs overlap (a seal awaits its ephemeral key), so each job's clock travels with its async context.
  const jobNow = new AsyncLocalStorage<number>();
  const clock = () => new Date(jobNow.getStore() ?? Date.now());

  const run = async (job: JobMessage): Promise<FromWorker> => {
    try {
      hooks.beforeJob?.(job);
      const ring = await rings.get(job.ringId);
      if (!ring) throw new Error('the crypto worker has no keys for this ring');
      if (job.type === 'seal') {
        const payload = asBuffer(job.payload);
        return {
          id: job.id,
          ok: true,
          jwe: await jobNow.run(job.nowMs, () => seal(payload, ring, job.profile)),
        };
      }
      if (job.type === 'seal-transfer') {
        const { members, meta } = job;
        const sealed = await jobNow.run(job.nowMs, () => sealTransfer(members, meta, ring, job.profile));
        return { id: job.id, ok: true, sealed };
      }
      const input = typeof job.input === 'string' ? job.input : asBuffer(job.input);
      if (job.type === 'open-any') {
        const any = await jobNow.run(job.nowMs, () => openAny(input, ring, job.profile));
        if ('transfer' in any) return { id: job.id, ok: true, transfer: any.transfer, facts: any.facts };
        return { id: job.id, ok: true, payload: new Uint8Array(any.payload), facts: any.facts };
      }
      const opened = await jobNow.run(job.nowMs, () => open(input, ring, job.profile));
      return { id: job.id, ok: true, payload: new Uint8Array(opened.payload), facts: opened.facts };
    } catch (err) {
      const error: WorkerError =
        err instanceof AccordError ? err.toJSON() : { message: (err as Error).message ?? 'failed' };
      return { id: job.id, ok: false, error };
    }
  };

  port.on('message', (m: ToWorker) => {
    if (m.type === 'keys') {
      const ring = KeyRing.fromSets({ keys: m.snapshot.own }, { keys: m.snapshot.peer }).then((r) =>
        r.useState(m.snapshot.state, clock),
      );
      // A ring that fails to load fails each of its jobs (above), not the thread.
      ring.catch(() => undefined);
      rings.set(m.ringId, ring);
      return;
    }
    void run(m).then((reply) =>
      port.postMessage(reply, 'payload' in reply ? [reply.payload.buffer as ArrayBuffer] : []),
    );
  });
}
