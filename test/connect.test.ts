/**
 * transport/connect: the one way to open a broker connection takes the config's `amqp` slice and its
 * `peer` slice as they are, names TLS problems by the slice's config path, and publishes a submission
 * through the submit exchange with the connection's user as `user_id` and the urgent lane's priority.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import type { ChannelModel } from 'amqplib';
import { names } from '../src/config.js';
import { URGENT_PRIORITY } from '../src/domain/envelope.js';
import { queueArgsFor } from '../src/topology.js';
import { AmqpConnection } from '../src/transport/amqp.js';
import { brokerUser, connectBroker, publishSubmission } from '../src/transport/connect.js';
import { ROOT, pairConfigs, removeNamespace, uniqueStem } from './helpers/harness.js';

const codeAndPath = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
    return 'connected';
  } catch (err) {
    const e = err as { code?: string; path?: string };
    return `${e.code} at ${e.path}`;
  }
};

describe('transport/connect: one way to connect', function () {
  this.timeout(30_000);
  const { cz: config } = pairConfigs(uniqueStem());
  const opened: ChannelModel[] = [];
  after(async () => {
    for (const c of opened) await c.close().catch(() => undefined);
    await removeNamespace(config);
  });

  it('connects with the amqp slice and with the peer slice, each as the config has it', async () => {
    opened.push(await connectBroker(config.amqp, { name: 'connect-test-local' }));
    opened.push(await connectBroker(config.peer, { name: 'connect-test-peer', heartbeatS: 5 }));
    expect(brokerUser(config.amqp)).to.equal('guest');
    expect(brokerUser({ amqpUrl: 'amqps://kz%2Dmia:pw@broker.example/' })).to.equal('kz-mia');
  });

  it('names unusable TLS material by the slice’s path, before dialling', async () => {
    const missing = { ca: join(ROOT, 'no-such-ca.crt') };
    expect(await codeAndPath(connectBroker({ ...config.amqp, tls: missing }, { name: 'x' }))).to.equal(
      'config.invalid at amqp.tls.ca',
    );
    expect(await codeAndPath(connectBroker({ ...config.peer, tls: missing }, { name: 'x' }))).to.equal(
      'config.invalid at peer.tls.ca',
    );
  });

  it('an unreachable broker is infra.unavailable, without the password in the message', async () => {
    try {
      await connectBroker({ url: 'amqp://someone:s3cret@127.0.0.1:1' }, { name: 'x', timeoutMs: 2000 });
      expect.fail('connected');
    } catch (err) {
      expect((err as { code?: string }).code).to.equal('infra.unavailable');
      expect((err as Error).message)
        .to.contain('127.0.0.1:1')
        .and.not.to.contain('s3cret');
    }
  });

  it('publishes a submission through the submit exchange with user_id and, when urgent, the urgent priority', async () => {
    const n = names(config.namespace);
    const conn = await AmqpConnection.open({
      broker: config.amqp,
      name: 'connect-test',
      confirmTimeoutMs: 5000,
    });
    try {
      await conn.assertQueues([n.outbox], queueArgsFor(config, n.outbox));
      await conn.assertRoute(n.submitExchange, n.outbox);
      await publishSubmission(conn, config.namespace, Buffer.from('{"urgent":true}'), { urgent: true });
      await publishSubmission(conn, config.namespace, Buffer.from('{"urgent":false}'));
      const got: { body: string; priority: unknown; userId: unknown }[] = [];
      await conn.drainQueue(n.outbox, (m) => {
        got.push({
          body: m.content.toString(),
          priority: m.properties.priority,
          userId: m.properties.userId,
        });
        return Promise.resolve();
      });
      expect(got).to.deep.equal([
        { body: '{"urgent":true}', priority: URGENT_PRIORITY, userId: 'guest' },
        { body: '{"urgent":false}', priority: undefined, userId: 'guest' },
      ]);
    } finally {
      await conn.close();
    }
  });
});
