/**
 * The contract of src/transport/amqp-tx.ts with the installed amqplib and the real broker. AMQP
 * transactions reach past amqplib's public API (it has no tx methods), so an amqplib upgrade could
 * break exactly-once without any other test noticing at once: these fail loudly instead.
 */
import { expect } from 'chai';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import { TX_METHODS, commitTx, selectTx } from '../src/transport/amqp-tx.js';
import { AMQP_URL, uniqueStem } from './helpers/harness.js';

/** amqplib's own frame definitions (not exported by its package, so loaded by path). */
function amqplibDefs(): Record<string, unknown> {
  const require = createRequire(import.meta.url);
  const root = dirname(require.resolve('amqplib'));
  return require(join(root, 'lib', 'defs.js')) as Record<string, unknown>;
}

describe('AMQP transactions: the contract with amqplib', function () {
  this.timeout(20_000);
  let conn: ChannelModel;
  let queue: string;

  before(async () => {
    conn = await amqp.connect(AMQP_URL);
    queue = `${uniqueStem()}-tx-contract`;
    const ch = await conn.createChannel();
    await ch.assertQueue(queue, { durable: false, autoDelete: false });
    await ch.close();
  });

  after(async () => {
    const ch = await conn.createChannel();
    await ch.deleteQueue(queue);
    await conn.close();
  });

  /** How many messages the queue holds now, seen from a channel of its own. */
  async function depth(): Promise<number> {
    const ch = await conn.createChannel();
    try {
      return (await ch.checkQueue(queue)).messageCount;
    } finally {
      await ch.close();
    }
  }

  it('uses the tx method ids that amqplib encodes', () => {
    const defs = amqplibDefs();
    expect({
      select: defs.TxSelect,
      selectOk: defs.TxSelectOk,
      commit: defs.TxCommit,
      commitOk: defs.TxCommitOk,
    }).to.deep.equal(TX_METHODS);
  });

  it("finds amqplib's promise RPC on a channel", async () => {
    const ch = await conn.createChannel();
    try {
      expect((ch as unknown as { rpc?: unknown }).rpc).to.be.a('function');
    } finally {
      await ch.close();
    }
  });

  it('shows nothing published in a transaction before the commit, and all of it after', async () => {
    const ch = await conn.createChannel();
    try {
      await selectTx(ch);
      for (let i = 0; i < 3; i++) ch.sendToQueue(queue, Buffer.from(`m${i}`));
      // A round trip on the same channel: the publishes have reached the broker by now.
      await ch.checkQueue(queue);
      expect(await depth()).to.equal(0);
      await commitTx(ch);
      expect(await depth()).to.equal(3);
    } finally {
      await ch.close();
    }
  });

  it('takes an ack in a transaction back when the channel closes before the commit', async () => {
    const ch: Channel = await conn.createChannel();
    const before = await depth();
    await selectTx(ch);
    const msg = await ch.get(queue, { noAck: false });
    expect(msg, 'a message to ack').to.not.equal(false);
    if (msg === false) return;
    ch.ack(msg);
    await ch.checkQueue(queue);
    await ch.close(); // no commit: the ack never took effect, and the broker requeues the message
    expect(await depth()).to.equal(before);
  });

  it('rejects a commit on a channel that was never put in transactional mode', async () => {
    const ch = await conn.createChannel();
    ch.on('error', () => undefined);
    let failure: unknown;
    try {
      await commitTx(ch);
    } catch (err) {
      failure = err;
    }
    expect(String(failure)).to.match(/PRECONDITION_FAILED|not transactional|406/i);
  });

  it('refuses a channel without the RPC it relies on, saying what to do', async () => {
    const stripped = { sendToQueue: () => true } as unknown as Channel;
    let failure: unknown;
    try {
      await selectTx(stripped);
    } catch (err) {
      failure = err;
    }
    expect(String(failure)).to.match(/amqplib no longer exposes Channel#rpc.*amqp-tx\.ts/);
  });
});
