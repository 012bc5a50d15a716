/**
 * Keys at rest (Art. 10(7), 11(1)): a private JWK Set may be stored encrypted with a passphrase, as a
 * compact JWE with PBES2-HS512+A256KW (PBKDF2-HMAC-SHA-512, RFC 7518 §4.8) and A256GCM. The work factor
 * is fixed on write and bounded on read: node-jose has no ceiling for `p2c`, so a hostile file could
 * otherwise make the gateway spin for hours before it even learns the passphrase is wrong.
 *
 * The gateway's private key file must be readable by its owner only, and with `NODE_ENV=production` it
 * must be the encrypted form. Passphrases, key members and plaintext never appear in an error.
 */
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import jose from 'node-jose';
import { z } from 'zod';
import { AccordError } from '../errors.js';
import { checkHeader, decodeHeader, FORBIDDEN_PARAMS, splitCompact } from './compact.js';
import { parseKeyJson, parsePrivateJwks, readKeyFile, type PrivateJwkSet } from './jwk.js';
import { CTY_JWKS, TYP_JWKS } from './profile.js';

/** Key wrapping of an encrypted JWK Set. */
export const JWKS_KEY_ALG = 'PBES2-HS512+A256KW';
/** Content encryption of an encrypted JWK Set. */
export const JWKS_CONTENT_ALG = 'A256GCM';
/** PBKDF2 iterations written (OWASP's figure for PBKDF2-HMAC-SHA-512 is 210 000; more costs ~0.3 s). */
export const P2C_WRITE = 310_000;
/** Iteration counts accepted on read: below, the passphrase is too cheap to guess; above, a DoS. */
export const P2C_MIN = 100_000;
export const P2C_MAX = 1_000_000;
/** Salt length written, in bytes (RFC 7518 requires at least 8; NIST SP 800-132 at least 16). */
const P2S_BYTES = 16;
/** A passphrase shorter than this is refused when a key file is encrypted. */
export const MIN_PASSPHRASE_CHARS = 12;
/** A passphrase file larger than this is refused before it is read. */
const MAX_PASSPHRASE_BYTES = 1024;

const B64u = z.string().regex(/^[A-Za-z0-9_-]+$/);
/** The only protected header an encrypted JWK Set may carry. */
const JwksHeader = z.strictObject({
  alg: z.literal(JWKS_KEY_ALG),
  enc: z.literal(JWKS_CONTENT_ALG),
  typ: z.literal(TYP_JWKS),
  cty: z.literal(CTY_JWKS),
  p2s: B64u.refine((s) => Buffer.from(s, 'base64url').length >= P2S_BYTES, `at least ${P2S_BYTES} bytes`),
  p2c: z.int().min(P2C_MIN).max(P2C_MAX),
});
/** Here `p2s`/`p2c` are the construction itself; everything else forbidden in messages stays forbidden. */
const JWKS_FORBIDDEN = FORBIDDEN_PARAMS.filter((p) => p !== 'p2s' && p !== 'p2c');

// @types/node-jose omits the per-call options; this is node-jose's documented signature.
interface Decrypter {
  decrypt(input: string, opts: { algorithms: string[] }): Promise<{ plaintext: Buffer }>;
}

async function passphraseKey(passphrase: string): Promise<jose.JWK.Key> {
  if (passphrase.length === 0) throw new AccordError('keys.invalid', 'the passphrase is empty');
  return jose.JWK.asKey({ kty: 'oct', k: Buffer.from(passphrase, 'utf8').toString('base64url') });
}

/** Whether key-file text has the encrypted form (a compact JWE) rather than that of a JSON JWK Set. */
export function isEncryptedJwks(text: Buffer | string): boolean {
  const s = (typeof text === 'string' ? text : text.toString('latin1')).trim();
  return /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]*){4}$/.test(s);
}

/** Encrypt a private JWK Set with a passphrase; returns the compact JWE (no trailing newline). */
export async function encryptJwks(set: PrivateJwkSet, passphrase: string): Promise<string> {
  if (passphrase.length < MIN_PASSPHRASE_CHARS) {
    throw new AccordError(
      'keys.invalid',
      `the passphrase must have at least ${MIN_PASSPHRASE_CHARS} characters`,
    );
  }
  const key = await passphraseKey(passphrase);
  const jwe = await jose.JWE.createEncrypt(
    {
      format: 'compact',
      contentAlg: JWKS_CONTENT_ALG,
      fields: {
        typ: TYP_JWKS,
        cty: CTY_JWKS,
        p2c: P2C_WRITE,
        p2s: randomBytes(P2S_BYTES).toString('base64url'),
      },
    },
    // `reference: false`: node-jose would otherwise add a `kid` that is the SHA-256 thumbprint of the
    // passphrase key — a fast hash of the passphrase, which would let anyone test guesses without PBKDF2.
    // (The typings miss the recipient form {key, reference, header} that node-jose accepts.)
    { key, reference: false, header: { alg: JWKS_KEY_ALG } } as unknown as jose.JWK.Key,
  )
    .update(Buffer.from(JSON.stringify(set)))
    .final();
  return String(jwe);
}

/**
 * Decrypt an encrypted JWK Set and check it as a private set. The header is checked first (algorithms,
 * `typ`, salt length, iteration bounds), so no work is done for a file outside the construction.
 */
export async function decryptJwks(
  text: Buffer | string,
  passphrase: string,
  source: string,
): Promise<PrivateJwkSet> {
  const compact = (typeof text === 'string' ? text : text.toString('latin1')).trim();
  let header: z.output<typeof JwksHeader>;
  try {
    const [protectedB64] = splitCompact(compact, 5, 'JWE');
    header = checkHeader(
      decodeHeader(protectedB64 ?? '', 'jwks'),
      JwksHeader,
      'jwks',
      {
        alg: [JWKS_KEY_ALG],
        enc: [JWKS_CONTENT_ALG],
      },
      JWKS_FORBIDDEN,
    );
  } catch (err) {
    const at = err instanceof AccordError && err.path ? ` at ${err.path}` : '';
    throw new AccordError(
      'keys.invalid',
      `${source}: not an encrypted JWK Set (${JWKS_KEY_ALG}, ${JWKS_CONTENT_ALG}, p2c ${P2C_MIN}–${P2C_MAX})${at}`,
      { cause: err, ...(err instanceof AccordError && err.path ? { path: err.path } : {}) },
    );
  }
  let plaintext: Buffer;
  try {
    const decrypter = jose.JWE.createDecrypt(await passphraseKey(passphrase)) as unknown as Decrypter;
    plaintext = (await decrypter.decrypt(compact, { algorithms: [header.alg, header.enc] })).plaintext;
  } catch (err) {
    if (err instanceof AccordError) throw err;
    throw new AccordError('keys.invalid', `${source}: cannot decrypt (wrong passphrase or damaged file)`, {
      cause: err,
    });
  }
  return parsePrivateJwks(parseKeyJson(plaintext, source), source);
}

/** Environment variables, as `process.env`. */
export type Env = Readonly<Record<string, string | undefined>>;

/** Where a private key file is and where its passphrase, if any, comes from. */
export interface PrivateKeySource {
  /** The private JWK Set file, plain JSON or encrypted. */
  readonly privateJwks: string;
  /** Name of the environment variable holding the passphrase. */
  readonly passphraseEnv?: string | undefined;
  /** File holding the passphrase (one line; owner-only like the key file). */
  readonly passphraseFile?: string | undefined;
}

/** What loading checks besides the file's content. */
export interface LoadOptions {
  /** Refuse a file that group or others may access. @defaultValue true (ignored on Windows) */
  readonly checkMode?: boolean;
}

/** Refuse a secret file with any permission bit for group or others (`mode & 0o077`). */
export function checkOwnerOnly(file: string): void {
  checkMode(file, 0o077, 'lets group or others access a secret; chmod 600 it');
}

/**
 * Refuse a file of trust that group or others may change (`mode & 0o022`): the pinned peer set and the
 * key history. They hold public keys only (readable is fine, as a checked-out copy is), but whoever can
 * write them decides whom the gateway trusts.
 */
export function checkOwnerWritable(file: string): void {
  checkMode(file, 0o022, 'lets group or others change which keys are trusted; chmod 600 it');
}

function checkMode(file: string, forbidden: number, why: string): void {
  if (process.platform === 'win32') return;
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch (err) {
    throw new AccordError('keys.invalid', `${file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`, {
      cause: err,
    });
  }
  if ((mode & forbidden) !== 0) {
    const octal = (mode & 0o777).toString(8);
    throw new AccordError('keys.invalid', `${file}: mode ${octal} ${why}`);
  }
}

/** The passphrase from the source's file or environment variable, if it names one. */
export function readPassphrase(
  source: Pick<PrivateKeySource, 'passphraseEnv' | 'passphraseFile'>,
  env: Env,
): string | undefined {
  if (source.passphraseFile !== undefined) {
    checkOwnerOnly(source.passphraseFile);
    // One trailing newline is what an editor or `echo` leaves; it is not part of the passphrase.
    return readKeyFile(source.passphraseFile, MAX_PASSPHRASE_BYTES)
      .toString('utf8')
      .replace(/\r?\n$/, '');
  }
  if (source.passphraseEnv !== undefined) return env[source.passphraseEnv];
  return undefined;
}

/**
 * Load this gateway's private JWK Set: owner-only file, decrypted with the passphrase when encrypted,
 * refused when unencrypted under `NODE_ENV=production`, then checked strictly. Every failure is
 * `keys.invalid`, naming files and never their content.
 */
export async function loadPrivateJwks(
  source: PrivateKeySource,
  env: Env = process.env,
  options: LoadOptions = {},
): Promise<PrivateJwkSet> {
  const file = source.privateJwks;
  if (options.checkMode ?? true) checkOwnerOnly(file);
  const text = readKeyFile(file);
  if (!isEncryptedJwks(text)) {
    const raw = parseKeyJson(text, file);
    if (env.NODE_ENV === 'production') {
      throw new AccordError(
        'keys.invalid',
        `${file}: an unencrypted private key is refused with NODE_ENV=production; encrypt it with "accord keys encrypt"`,
      );
    }
    return parsePrivateJwks(raw, file);
  }
  const passphrase = readPassphrase(source, env);
  if (passphrase === undefined || passphrase === '') {
    const where =
      source.passphraseFile !== undefined
        ? `the passphrase file ${source.passphraseFile} is empty`
        : source.passphraseEnv !== undefined
          ? `the environment variable ${source.passphraseEnv} is not set`
          : 'no passphrase source is configured (keys.passphraseEnv or keys.passphraseFile)';
    throw new AccordError('keys.invalid', `${file} is encrypted, but ${where}`);
  }
  return decryptJwks(text, passphrase, file);
}
