/**
 * Test-only TLS material and a TLS terminator in front of the local broker: TLS with the broker
 * certificate of `bash certs-example/make-tls.sh`, a client certificate from its CA required (as a
 * RabbitMQ TLS listener with `fail_if_no_peer_cert` would), and the plain AMQP bytes passed on to
 * 127.0.0.1:5672.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect as netConnect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createServer } from 'node:tls';
import { ROOT } from './harness.js';
import { tempDir } from './temp.js';

/** A fresh folder of `make-tls.sh` material: ca.crt, server.*, cz-gateway.*, kz-gateway.* (removed at the end). */
export function tlsMaterial(): string {
  const dir = tempDir('tls');
  execFileSync('bash', [join(ROOT, 'certs-example', 'make-tls.sh'), dir], { stdio: 'ignore' });
  return dir;
}

/** A running terminator: its port on 127.0.0.1, and `close()`. */
export interface TlsTerminator {
  port: number;
  close(): void;
}

/** Start a terminator with the server certificate and CA of the material in `dir`. */
export async function startTlsTerminator(dir: string): Promise<TlsTerminator> {
  const server = createServer(
    {
      cert: readFileSync(join(dir, 'server.crt')),
      key: readFileSync(join(dir, 'server.key')),
      ca: [readFileSync(join(dir, 'ca.crt'))],
      requestCert: true,
      rejectUnauthorized: true,
    },
    (socket) => {
      const upstream = netConnect(5672, '127.0.0.1');
      socket.pipe(upstream).pipe(socket);
      socket.on('error', () => upstream.destroy());
      upstream.on('error', () => socket.destroy());
    },
  );
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, close: () => void server.close() };
}
