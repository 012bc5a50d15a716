/**
 * Upgrades (docs/operator.md): a replica of this version consumes nothing while a replica of an older
 * version runs for the same party. An older replica consumes the retired delivered-log queue; here a
 * plain AMQP consumer on that queue stands in for it.
 */
import { expect } from 'chai';
import amqp, { type ChannelModel } from 'amqplib';
import type { SubmissionInput } from '../src/client/index.js';
import { names, type Config } from '../src/config.js';
import { Gateway } from '../src/gateway.js';
import {
  AMQP_URL,
  authority,
  eventually,
  example,
  memoryLogger,
  pairConfigs,
  removeNamespace,
  uniqueStem,
  type TestAuthority,
} from './helpers/harness.js';

describe('upgrade: a new replica beside an older one', function () {
  this.timeout(60_000);
  let cz: Config;
  let kz: Config;
  let conn: ChannelModel;
  const gateways: Gateway[] = [];
  const clients: TestAuthority[] = [];

  before(async () => {
    ({ cz, kz } = pairConfigs(uniqueStem()));
    conn = await amqp.connect(AMQP_URL);
  });
  after(async () => {
    for (const c of clients) await c.client.close();
    for (const g of gateways) await g.stop();
    await conn.close();
    await removeNamespace(cz);
    await removeNamespace(kz);
  });

  /** Consumers of one of CZ's queues now. */
  async function consumersOf(queue: string): Promise<number> {
    const ch = await conn.createChannel();
    try {
      return (await ch.checkQueue(queue)).consumerCount;
    } finally {
      await ch.close();
    }
  }

  it('consumes nothing while an older replica consumes the retired delivered-log, and goes on once it stops', async () => {
    const n = names(cz.namespace);
    // The older replica: its delivered-log queue, with its consumer.
    const old = await conn.createChannel();
    await old.assertQueue(n.legacyDeliveredLog, { durable: true });
    const { consumerTag } = await old.consume(n.legacyDeliveredLog, () => undefined);

    const { log, lines } = memoryLogger();
    gateways.push(await Gateway.start(kz, log.child({ gw: 'KZ' })));
    let czStarted: Gateway | undefined;
    const starting = Gateway.start(cz, log.child({ gw: 'CZ' })).then((g) => {
      czStarted = g;
      gateways.push(g);
    });
    await eventually(
      () => Promise.resolve(lines.find((l) => l.includes('a gateway of an older version is still running'))),
      20_000,
      'the line saying an older replica runs',
    );
    const czIpc = await authority(cz, 'cz-pp-ipc');
    const kzMia = await authority(kz, 'kz-mia');
    clients.push(czIpc, kzMia);
    const { messageId } = await czIpc.client.submit(example('request', 'fence-1') as SubmissionInput);
    // Waiting: the submission stays on the outbox, which has no consumer.
    await new Promise((r) => setTimeout(r, 1000));
    expect(await consumersOf(n.outbox)).to.equal(0);
    expect(await consumersOf(n.ingress)).to.equal(0);
    expect(czStarted).to.equal(undefined);
    expect(lines.filter((l) => l.includes('a gateway of an older version is still running'))).to.have.length(
      1,
    );

    // The older replica stops: this one consumes, and the submission goes out once.
    await old.cancel(consumerTag);
    await old.close();
    await starting;
    await kzMia.inbox.waitFor((d) => d.envelope.id === messageId, 20_000, 'the submission at KZ');
    expect(lines.some((l) => l.includes('no gateway of an older version runs any more'))).to.equal(true);
    expect(await consumersOf(n.outbox)).to.be.greaterThan(0);
  });
});
