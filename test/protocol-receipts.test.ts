/**
 * docs/protocol.md, sections 4 and 7, seen from the wire: what KZ's gateway sends back to CZ for a
 * message it takes in (one signed receipt, with the fields the protocol names) and for one it parks
 * (nothing). CZ's gateway is not running: its ingress collects what KZ sends, to be opened here with
 * CZ's keys, as a second implementation would. And the peer link's publishes are mandatory: one the
 * peer's broker cannot route fails instead of vanishing.
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import type { GetMessage } from 'amqplib';
import { pino } from 'pino';
import { names, type Config } from '../src/config.js';
import { KeyRing } from '../src/crypto/keyring.js';
import { open } from '../src/crypto/open.js';
import { Gateway } from '../src/gateway.js';
import { AmqpConnection } from '../src/transport/amqp.js';
import { expectCode } from './helpers/expect-code.js';
import {
  drainMessages,
  eventually,
  ingressWithoutGateway,
  pairConfigs,
  publishRaw,
  removeNamespace,
  sealAsCz,
  testEnvelope,
  uniqueStem,
  waitForDeadLetter,
} from './helpers/harness.js';

interface Receipt {
  kind: string;
  from: unknown;
  to: unknown;
  priority: string;
  body: { forMessageId: string; jweSha256: string; receivedAt: string; status: string };
}

describe('docs/protocol.md: receipts and the peer link on the wire', function () {
  this.timeout(40_000);
  let cz: Config;
  let kz: Config;
  let gw: Gateway;
  let czRing: KeyRing;
  /** Everything KZ has sent to CZ's ingress so far, opened. */
  const received: { message: GetMessage; receipt: Receipt }[] = [];

  /** Read CZ's ingress until a receipt for `id` is among what came. */
  async function receiptFor(id: string): Promise<{ message: GetMessage; receipt: Receipt }> {
    return eventually(
      async () => {
        for (const message of await drainMessages(names(cz.namespace).ingress)) {
          const { payload } = await open(message.content, czRing, cz.crypto);
          received.push({ message, receipt: JSON.parse(payload.toString('utf8')) as Receipt });
        }
        return received.find((r) => r.receipt.body.forMessageId === id);
      },
      15_000,
      `the receipt for ${id}`,
    );
  }

  before(async () => {
    ({ cz, kz } = pairConfigs(uniqueStem()));
    await ingressWithoutGateway(cz);
    czRing = await KeyRing.load(cz.keys, cz.peer.publicJwks);
    gw = await Gateway.start(kz, pino({ level: 'silent' }));
  });
  after(async () => {
    await gw.stop();
    await removeNamespace(cz);
    await removeNamespace(kz);
  });

  it('[P-RCPT-3] [P-RCPT-4] [P-AMQP-3] answers a message taken in with one signed receipt: addresses swapped, its priority, its id and the digest of its JWE', async () => {
    const env = testEnvelope({ priority: 'urgent' });
    const jwe = await sealAsCz(cz, env);
    await publishRaw(names(kz.namespace).ingress, jwe);
    const { message, receipt } = await receiptFor(env.id as string);
    expect(message.properties.contentType).to.equal('application/jose');
    expect(receipt).to.deep.include({ kind: 'receipt', from: env.to, to: env.from, priority: 'urgent' });
    expect(receipt.body).to.deep.include({
      forMessageId: env.id,
      jweSha256: createHash('sha256').update(jwe).digest('hex'),
      status: 'delivered',
    });
    expect(Date.parse(receipt.body.receivedAt)).to.be.a('number').and.not.NaN;
  });

  it('[P-AMQP-4] fails a publish to the peer exchange that routes nowhere (mandatory), instead of dropping it', async () => {
    const conn = await AmqpConnection.open({
      broker: cz.peer,
      name: 'protocol-test',
      confirmTimeoutMs: 5000,
    });
    try {
      const { peerExchange } = names(kz.namespace);
      await expectCode(
        conn.publishVia(peerExchange, 'no-such-ingress', Buffer.from('x'), {
          contentType: 'application/jose',
        }),
        'infra.unavailable',
      );
    } finally {
      await conn.close();
    }
  });

  it('[P-RCPT-2] [P-ERR-1] sends nothing back for a message it parks', async () => {
    const expired = testEnvelope({ expiresAt: new Date(Date.now() - 3600_000).toISOString() });
    await publishRaw(names(kz.namespace).ingress, await sealAsCz(cz, expired));
    await waitForDeadLetter(
      names(kz.namespace).dlq,
      (l) => l.code === 'envelope.expired' && l.messageId === expired.id,
    );
    // A message taken in after it: its receipt comes, and none ever came for the parked one.
    const after = testEnvelope();
    await publishRaw(names(kz.namespace).ingress, await sealAsCz(cz, after));
    await receiptFor(after.id as string);
    expect(received.map((r) => r.receipt.body.forMessageId)).not.to.include(expired.id);
    expect(received.filter((r) => r.receipt.body.forMessageId === after.id)).to.have.length(1);
  });
});
