/**
 * AMQP 0-9-1 transactions (tx.select, tx.commit) on an amqplib channel: what makes a delivery, its
 * events and the ack of its input commit together (docs/reliability.md).
 *
 * amqplib encodes and decodes the tx frames but has no API method for them. This module is the one
 * place that reaches past its public surface, and it relies on exactly two things:
 * - `Channel#rpc(method, fields, expect)`, the promise-returning RPC that amqplib's own API methods
 *   are built on (lib/channel_model.js), resolving with the reply's fields and rejecting when the
 *   channel closes;
 * - the method ids of the tx class (class 90; select 10, select-ok 11, commit 20, commit-ok 21),
 *   fixed by the AMQP 0-9-1 specification and the same as amqplib's `lib/defs.js` exports.
 *
 * test/amqp-tx.test.ts is the contract: it checks both against the installed amqplib and the real
 * broker (nothing published in a transaction is visible before the commit, everything is after it), so
 * an amqplib upgrade that changes either fails there, loudly, instead of silently breaking exactly-once.
 * At run time `selectTx` refuses a channel without `rpc` with a message that says what to do.
 */
import type { Channel } from 'amqplib';

/** The tx class's method ids: (class id << 16) | method id, as amqplib's frame codec keys them. */
export const TX_METHODS = {
  select: (90 << 16) | 10,
  selectOk: (90 << 16) | 11,
  commit: (90 << 16) | 20,
  commitOk: (90 << 16) | 21,
} as const;

/** The part of amqplib's channel this module uses. */
interface RpcChannel {
  rpc(method: number, fields: object, expect: number): Promise<unknown>;
}

/** The channel's RPC, or an error naming what changed: nothing transactional can run without it. */
function rpcOf(ch: Channel): RpcChannel {
  const candidate = ch as unknown as Partial<RpcChannel>;
  if (typeof candidate.rpc !== 'function') {
    throw new Error(
      'amqplib no longer exposes Channel#rpc, which AMQP transactions rely on ' +
        '(src/transport/amqp-tx.ts); keep the amqplib version in package-lock.json or adapt that module',
    );
  }
  return candidate as RpcChannel;
}

/** Put the channel in transactional mode: from now on its publishes and acks take effect on commit. */
export async function selectTx(ch: Channel): Promise<void> {
  await rpcOf(ch).rpc(TX_METHODS.select, {}, TX_METHODS.selectOk);
}

/**
 * Commit what the channel published and acked since the last commit; resolves once the broker has
 * answered commit-ok. It rejects when the channel closes first; the commit may then have happened or
 * not, which the delivered-log settles (docs/reliability.md).
 */
export async function commitTx(ch: Channel): Promise<void> {
  await rpcOf(ch).rpc(TX_METHODS.commit, {}, TX_METHODS.commitOk);
}
