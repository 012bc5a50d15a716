/**
 * TLS for a broker connection (amqps://): the CA that signs the broker's certificate, and this
 * gateway's client certificate and key for mutual authentication. The server's identity is always
 * verified (`rejectUnauthorized: true`, host name or `servername` against the certificate); TLS 1.2 is
 * the least accepted. Files are read size-limited and checked before use; test-only material (a CA
 * whose subject says "Accord TEST-ONLY", from certs-example/make-tls.sh) is refused under
 * NODE_ENV=production.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { AccordError } from '../errors.js';

/** The config's `tls` section of a broker connection (paths already resolved). */
export interface TlsConfig {
  ca: string;
  cert?: string | undefined;
  key?: string | undefined;
  /** Name of the environment variable holding the key's passphrase. */
  passphraseEnv?: string | undefined;
  /** The name the broker's certificate must carry, when it is not the URL's host. */
  servername?: string | undefined;
}

const MAX_PEM_BYTES = 64 * 1024;
export const TEST_ONLY_MARK = 'Accord TEST-ONLY';

function readPem(path: string, what: string, field: string): Buffer {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    throw new AccordError('config.invalid', `${what} ${path} cannot be read`, { path: field });
  }
  if (size > MAX_PEM_BYTES) {
    throw new AccordError('config.invalid', `${what} is larger than ${MAX_PEM_BYTES} bytes`, { path: field });
  }
  const pem = readFileSync(path);
  if (!pem.toString('ascii').includes('-----BEGIN ')) {
    throw new AccordError('config.invalid', `${what} is not PEM`, { path: field });
  }
  return pem;
}

/**
 * The socket options for amqplib's `amqps://` connection. `field` is the config path of the section
 * (for errors), e.g. `peer.tls`.
 */
export function tlsSocketOptions(
  tls: TlsConfig,
  field: string,
  env: NodeJS.ProcessEnv = process.env,
): ConnectionOptions {
  const ca = readPem(tls.ca, 'the CA certificate', `${field}.ca`);
  let caCert: X509Certificate;
  try {
    caCert = new X509Certificate(ca);
  } catch {
    throw new AccordError('config.invalid', 'the CA certificate does not parse', { path: `${field}.ca` });
  }
  if (env.NODE_ENV === 'production' && caCert.subject.includes(TEST_ONLY_MARK)) {
    throw new AccordError(
      'config.invalid',
      'the CA is test-only material (certs-example); refused in production',
      {
        path: `${field}.ca`,
      },
    );
  }
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new AccordError('config.invalid', 'a client certificate needs its key, and a key its certificate', {
      path: `${field}.${tls.cert === undefined ? 'cert' : 'key'}`,
    });
  }
  const options: ConnectionOptions = { ca: [ca], rejectUnauthorized: true, minVersion: 'TLSv1.2' };
  if (tls.cert !== undefined && tls.key !== undefined) {
    const cert = readPem(tls.cert, 'the client certificate', `${field}.cert`);
    let clientCert: X509Certificate;
    try {
      clientCert = new X509Certificate(cert);
    } catch {
      throw new AccordError('config.invalid', 'the client certificate does not parse', {
        path: `${field}.cert`,
      });
    }
    if (env.NODE_ENV === 'production' && clientCert.subject.includes(TEST_ONLY_MARK)) {
      throw new AccordError(
        'config.invalid',
        'the client certificate is test-only material; refused in production',
        {
          path: `${field}.cert`,
        },
      );
    }
    const key = readPem(tls.key, 'the client key', `${field}.key`);
    if ((statSync(tls.key).mode & 0o077) !== 0) {
      throw new AccordError(
        'keys.invalid',
        'the client key is readable by others than its owner (chmod 600)',
        {
          path: `${field}.key`,
        },
      );
    }
    const passphrase = tls.passphraseEnv === undefined ? undefined : env[tls.passphraseEnv];
    if (tls.passphraseEnv !== undefined && passphrase === undefined) {
      throw new AccordError('config.invalid', `${tls.passphraseEnv} is not set`, {
        path: `${field}.passphraseEnv`,
      });
    }
    try {
      createPrivateKey({ key, ...(passphrase === undefined ? {} : { passphrase }) });
    } catch {
      throw new AccordError('keys.invalid', 'the client key does not parse (or the passphrase is wrong)', {
        path: `${field}.key`,
      });
    }
    options.cert = cert;
    options.key = key;
    if (passphrase !== undefined) options.passphrase = passphrase;
  }
  if (tls.servername !== undefined) options.servername = tls.servername;
  return options;
}
