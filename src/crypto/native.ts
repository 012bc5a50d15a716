/**
 * The cryptographic operations of Accord's own algorithms on node:crypto (OpenSSL), without node-jose's
 * JavaScript layer: ES256 and PS256 signatures, ECDH-ES+A256KW (P-256, P-384) and RSA-OAEP-256 key
 * management, A256GCM content encryption (RFC 7515, 7516, 7518). node-jose stays for key import and
 * for algorithms only the public test vectors use; every header and size check stays in open.ts.
 *
 * Measured on one core of the development machine: node-jose seals ~250/s and opens ~480/s; these
 * functions do the same operations an order of magnitude faster (see `npm run bench`).
 */
import {
  createCipheriv,
  createDecipheriv,
  createECDH,
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  sign,
  verify,
  constants,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import type jose from 'node-jose';

/** Signature algorithms done here (others go to node-jose). */
export const NATIVE_SIGNATURE_ALGS = new Set(['ES256', 'PS256']);
/** Key-management and content algorithms done here. */
export const NATIVE_KEY_ALGS = new Set(['ECDH-ES+A256KW', 'RSA-OAEP-256']);
export const NATIVE_CONTENT_ALGS = new Set(['A256GCM']);

/** JWK `crv` of each OpenSSL curve name ECDH-ES keys may have. */
const JWK_CURVE: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384' };

/** The node:crypto key object of a node-jose key (imported once, then cached). */
const privateKeys = new WeakMap<jose.JWK.Key, KeyObject>();
const publicKeys = new WeakMap<jose.JWK.Key, KeyObject>();

export function privateKeyOf(key: jose.JWK.Key): KeyObject {
  let k = privateKeys.get(key);
  if (!k) {
    k = createPrivateKey({ key: key.toJSON(true) as JsonWebKey, format: 'jwk' });
    privateKeys.set(key, k);
  }
  return k;
}

export function publicKeyOf(key: jose.JWK.Key): KeyObject {
  let k = publicKeys.get(key);
  if (!k) {
    k = createPublicKey({ key: key.toJSON(false) as JsonWebKey, format: 'jwk' });
    publicKeys.set(key, k);
  }
  return k;
}

const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/** An EC public key's uncompressed point (0x04 ‖ x ‖ y), exported once per key. */
const publicPoints = new WeakMap<KeyObject, Buffer>();
function publicPointOf(key: KeyObject): Buffer {
  let point = publicPoints.get(key);
  if (!point) {
    const { x, y } = key.export({ format: 'jwk' }) as { x: string; y: string };
    point = Buffer.concat([Buffer.of(4), Buffer.from(x, 'base64url'), Buffer.from(y, 'base64url')]);
    publicPoints.set(key, point);
  }
  return point;
}

function signatureOptions(alg: string, key: KeyObject) {
  if (alg === 'ES256') return { key, dsaEncoding: 'ieee-p1363' as const };
  // PS256: RSASSA-PSS with SHA-256, MGF1 SHA-256, a 32-byte salt (RFC 7518 §3.5).
  return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 };
}

/** A compact JWS over `payload` with the protected header given (which names `alg`). */
export function signCompact(
  payload: Buffer,
  header: Record<string, unknown> & { alg: string },
  key: KeyObject,
): string {
  const input = `${b64(JSON.stringify(header))}.${b64(payload)}`;
  const signature = sign('sha256', Buffer.from(input, 'ascii'), signatureOptions(header.alg, key));
  return `${input}.${b64(signature)}`;
}

/** Verify the signature of a compact JWS's signing input; true when it verifies. */
export function verifyCompact(
  signingInput: Buffer | string,
  signature: Buffer,
  alg: string,
  key: KeyObject,
): boolean {
  const data = typeof signingInput === 'string' ? Buffer.from(signingInput, 'ascii') : signingInput;
  return verify('sha256', data, signatureOptions(alg, key), signature);
}

/** RFC 7518 §4.6.2: the Concat KDF (single round: 256 bits from SHA-256) for ECDH-ES+A256KW. */
function concatKdf(z: Buffer, alg: string): Buffer {
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  const algId = Buffer.from(alg, 'ascii');
  const otherInfo = Buffer.concat([u32(algId.length), algId, u32(0), u32(0), u32(256)]);
  return createHash('sha256')
    .update(Buffer.concat([u32(1), z, otherInfo]))
    .digest();
}

/** RFC 3394 AES key wrap with the default IV. */
const WRAP_IV = Buffer.from('A6A6A6A6A6A6A6A6', 'hex');
function wrap(kek: Buffer, cek: Buffer): Buffer {
  const c = createCipheriv('id-aes256-wrap', kek, WRAP_IV);
  return Buffer.concat([c.update(cek), c.final()]);
}
function unwrap(kek: Buffer, wrapped: Buffer): Buffer {
  const d = createDecipheriv('id-aes256-wrap', kek, WRAP_IV);
  return Buffer.concat([d.update(wrapped), d.final()]);
}

/**
 * A compact JWE of `plaintext` to the recipient's public key, A256GCM content encryption with a fresh
 * CEK and IV, `extra` added to the protected header (kid, typ, cty). ECDH-ES+A256KW takes a fresh
 * ephemeral key on the recipient key's curve for every message.
 */
export function encryptCompact(
  plaintext: Buffer,
  alg: 'ECDH-ES+A256KW' | 'RSA-OAEP-256',
  recipient: KeyObject,
  extra: Record<string, unknown>,
): string {
  const cek = randomBytes(32);
  let header: Record<string, unknown>;
  let encryptedKey: Buffer;
  if (alg === 'ECDH-ES+A256KW') {
    // The key's details name its curve without exporting it (an export per seal cost ~1.5% of a gateway).
    const namedCurve = recipient.asymmetricKeyDetails?.namedCurve ?? '';
    const crv = JWK_CURVE[namedCurve];
    if (!crv) throw new Error(`no ephemeral keys for curve ${namedCurve}`);
    // The ECDH class generates and agrees in one synchronous step, about twice as fast as an
    // asynchronous generateKeyPair + export + diffieHellman (no thread-pool hop, no JWK export).
    // generateKeyPairSync is avoided: it deadlocks on Node 20.20.
    const eph = createECDH(namedCurve);
    const point = eph.generateKeys();
    const size = (point.length - 1) / 2;
    const x = b64(point.subarray(1, 1 + size));
    const y = b64(point.subarray(1 + size));
    header = { alg, enc: 'A256GCM', ...extra, epk: { kty: 'EC', crv, x, y } };
    const z = eph.computeSecret(publicPointOf(recipient));
    encryptedKey = wrap(concatKdf(z, alg), cek);
  } else {
    header = { alg, enc: 'A256GCM', ...extra };
    encryptedKey = publicEncrypt(
      { key: recipient, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      cek,
    );
  }
  const protectedB64 = b64(JSON.stringify(header));
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', cek, iv);
  cipher.setAAD(Buffer.from(protectedB64, 'ascii'));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return [protectedB64, b64(encryptedKey), b64(iv), b64(ciphertext), b64(cipher.getAuthTag())].join('.');
}

/**
 * Decrypt a compact JWE whose header open.ts has checked (alg, enc, epk on the key's curve, IV and tag
 * sizes); `epk` is the header's ephemeral key as open.ts imported it (ECDH-ES only). Throws on any failure; the caller maps it to `crypto.decrypt_failed`.
 */
export function decryptCompact(
  parts: { protectedB64: string; encryptedKey: string; iv: string; ciphertext: string; tag: string },
  alg: string,
  key: KeyObject,
  epk: KeyObject | undefined,
): Buffer {
  let cek: Buffer;
  const wrapped = Buffer.from(parts.encryptedKey, 'base64url');
  if (alg === 'ECDH-ES+A256KW') {
    if (!epk) throw new Error('no ephemeral public key');
    const z = diffieHellman({ privateKey: key, publicKey: epk });
    cek = unwrap(concatKdf(z, alg), wrapped);
  } else if (alg === 'RSA-OAEP-256') {
    cek = privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, wrapped);
  } else {
    throw new Error(`not a native key-management algorithm: ${alg}`);
  }
  if (cek.length !== 32) throw new Error('the content key has the wrong size');
  const decipher = createDecipheriv('aes-256-gcm', cek, Buffer.from(parts.iv, 'base64url'));
  decipher.setAAD(Buffer.from(parts.protectedB64, 'ascii'));
  decipher.setAuthTag(Buffer.from(parts.tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(parts.ciphertext, 'base64url')), decipher.final()]);
}
