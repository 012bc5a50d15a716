/**
 * The peer link over AMQPS with client certificates. The options are built from the config's
 * files and checked; and a real TLS handshake runs through a TLS terminator in front of the local
 * broker that demands a client certificate from the CA (as a RabbitMQ TLS listener with
 * `fail_if_no_peer_cert` would): the right material connects, a wrong CA, a missing client
 * certificate or a wrong server name does not.
 */
import { expect } from 'chai';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import amqp from 'amqplib';
import { AmqpConnection } from '../src/transport/amqp.js';
import { tlsSocketOptions, type TlsConfig } from '../src/transport/tls.js';
import { names } from '../src/config.js';
import { queueArgsFor } from '../src/topology.js';
import {
  ROOT,
  configFileFor,
  example,
  pairConfigs,
  removeNamespace,
  runCli,
  uniqueStem,
} from './helpers/harness.js';
import { expectCode } from './helpers/expect-code.js';
import { tempDir } from './helpers/temp.js';
import { startTlsTerminator, tlsMaterial, type TlsTerminator } from './helpers/tls-terminator.js';

describe('TLS for broker connections', function () {
  this.timeout(60_000);
  const dir = tlsMaterial();
  const other = tlsMaterial(); // a second, unrelated CA
  const cfg = (over: Partial<TlsConfig> = {}): TlsConfig => ({
    ca: join(dir, 'ca.crt'),
    cert: join(dir, 'cz-gateway.crt'),
    key: join(dir, 'cz-gateway.key'),
    ...over,
  });
  let terminator: TlsTerminator;
  let port: number;

  before(async () => {
    terminator = await startTlsTerminator(dir);
    port = terminator.port;
  });
  after(() => {
    terminator.close();
  });

  it('builds verifying options from the config’s files', () => {
    const o = tlsSocketOptions(cfg({ servername: 'localhost' }), 'peer.tls');
    expect(o.rejectUnauthorized).to.equal(true);
    expect(o.minVersion).to.equal('TLSv1.2');
    expect(o.servername).to.equal('localhost');
    expect((o.cert as Buffer).toString('ascii')).to.contain('BEGIN CERTIFICATE');
    expect((o.key as Buffer).toString('ascii')).to.contain('PRIVATE KEY');
  });

  it('refuses test-only material in production, a key others can read, half a client pair, and non-PEM', async () => {
    await expectCode(() => tlsSocketOptions(cfg(), 'peer.tls', { NODE_ENV: 'production' }), 'config.invalid');
    const loose = tlsMaterial();
    chmodSync(join(loose, 'cz-gateway.key'), 0o644);
    await expectCode(
      () =>
        tlsSocketOptions(
          cfg({ cert: join(loose, 'cz-gateway.crt'), key: join(loose, 'cz-gateway.key') }),
          'peer.tls',
        ),
      'keys.invalid',
    );
    await expectCode(() => tlsSocketOptions(cfg({ key: undefined }), 'peer.tls'), 'config.invalid');
    await expectCode(
      () => tlsSocketOptions(cfg({ ca: join(ROOT, 'package.json') }), 'peer.tls'),
      'config.invalid',
    );
  });

  const open = (tls: TlsConfig, host = 'localhost') =>
    AmqpConnection.open({
      broker: { amqpUrl: `amqps://guest:guest@${host}:${port}`, tls },
      name: 'tls-test',
      heartbeatS: 10,
      confirmTimeoutMs: 5000,
    });

  it('connects with the right CA and client certificate, and publishes with a confirm', async () => {
    const queue = `${uniqueStem()}.tls`;
    const plain = await amqp.connect('amqp://guest:guest@127.0.0.1:5672');
    const ch = await plain.createChannel();
    await ch.assertQueue(queue, { durable: false });
    try {
      const conn = await open(cfg());
      await conn.publish(queue, Buffer.from('over TLS'), { contentType: 'text/plain' });
      await conn.close();
      const got = await ch.get(queue, { noAck: true });
      expect(got && got.content.toString()).to.equal('over TLS');
    } finally {
      await ch.deleteQueue(queue);
      await plain.close();
    }
  });

  const refused = async (tls: TlsConfig, host?: string): Promise<string> => {
    try {
      const conn = await open(tls, host);
      await conn.close();
      return 'connected';
    } catch (err) {
      const e = err as { code?: string; message?: string };
      return `${e.code ?? 'error'}: ${e.message ?? ''}`;
    }
  };

  it('does not connect when the broker’s certificate is from another CA (server identity)', async () => {
    // Configuration, not an outage: a retry would meet the same certificate.
    expect(await refused(cfg({ ca: join(other, 'ca.crt') }))).to.match(
      /^config\.tls_unverified: .*(UNABLE_TO_VERIFY|SELF_SIGNED)/,
    );
  });

  it('does not connect when the broker’s certificate does not name the host', async () => {
    expect(await refused(cfg({ servername: 'broker.other.example' }))).to.match(
      /^config\.tls_unverified: .*ERR_TLS_CERT_ALTNAME_INVALID/,
    );
  });

  it('is refused by the broker without a client certificate, or with one from another CA', async () => {
    const without = await refused(cfg({ cert: undefined, key: undefined }));
    const foreign = await refused(
      cfg({ cert: join(other, 'cz-gateway.crt'), key: join(other, 'cz-gateway.key') }),
    );
    expect(without).to.match(/^config\.tls_unverified: .*CERTIFICATE_REQUIRED/);
    // The terminator ends the handshake on an unknown client CA: with an alert the client can read
    // (configuration), or by closing the socket, which cannot be told from an outage.
    expect(foreign).to.match(/^(config\.tls_unverified|infra\.unavailable): .*(closed|UNKNOWN_CA|alert)/i);
  });

  it('the accord command connects with amqp.tls: dlq list, status and send', async () => {
    const config = pairConfigs(uniqueStem()).kz;
    const file = configFileFor(config);
    const raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, any>;
    raw.amqp = { url: `amqps://guest:guest@localhost:${port}`, tls: cfg() };
    writeFileSync(file, JSON.stringify(raw));
    const n = names(config.namespace);
    const plain = await amqp.connect('amqp://guest:guest@127.0.0.1:5672');
    try {
      const ch = await plain.createChannel();
      for (const q of [n.outbox, n.dlq]) {
        await ch.assertQueue(q, { durable: true, arguments: queueArgsFor(config, q) });
      }
      await ch.assertExchange(n.submitExchange, 'direct', { durable: true });
      await ch.bindQueue(n.outbox, n.submitExchange, n.outbox);

      const listed = await runCli(['dlq', 'list', '--config', file]);
      expect(listed.code, listed.stderr).to.equal(0);
      expect(listed.stdout).to.contain('is empty');
      const status = await runCli(['status', '--config', file]);
      expect(status.stdout, status.stderr).to.match(/queues \(messages \/ consumers\)/);
      const msg = join(tempDir('tls-send'), 'm.json');
      writeFileSync(msg, JSON.stringify(example('person-search', 'over-tls')));
      const sent = await runCli(['send', '--no-wait', '--config', file, '--file', msg]);
      expect(sent.code, sent.stderr).to.equal(0);
      const got = await ch.get(n.outbox, { noAck: true });
      expect(
        got && (JSON.parse(got.content.toString()) as { idempotencyKey: string }).idempotencyKey,
      ).to.equal('over-tls');
    } finally {
      await plain.close();
      await removeNamespace(config);
    }
  });
});
