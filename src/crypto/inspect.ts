/**
 * Inspection of a captured sealed message for security staff (`accord envelope inspect`): its protected
 * headers and part sizes, each layer's verdict against the profile, and — only with the own keys — the
 * inner JWS header. Never the payload: an envelope holds personal data, and inspection is not delivery.
 */
import { createHash } from 'node:crypto';
import { AccordError } from '../errors.js';
import { checkSize, decodeHeader, splitCompact } from './compact.js';
import type { KeyLookup } from './keyring.js';
import { checkJweHeader, checkJwsHeader, decryptJwe, verifyJws } from './open.js';
import { CTY_JWE, TYP_JWE, TYP_JWS, type CryptoProfile } from './profile.js';

/** What inspection shows of one layer. */
export interface LayerView {
  /** The protected header as sent (header values are data: printed JSON-escaped, never interpreted). */
  protected: Record<string, unknown>;
  /** `ok`, or the refusal it would get: `code: message (at path)`. */
  check: string;
}

/** The result of inspecting a sealed message. */
export interface Inspection {
  bytes: number;
  /** SHA-256 (hex) of the message as received: what a receipt for it carries. */
  sha256: string;
  jwe: LayerView & { parts: { encryptedKey: number; iv: number; ciphertext: number; tag: number } };
  /** The inner JWS's view, or why it is not shown. */
  jws: LayerView | string;
  /** Whether every check that could run passed. */
  ok: boolean;
}

function verdict(err: unknown): string {
  const e = err instanceof AccordError ? err : new AccordError('internal.error');
  return `${e.code}: ${e.message}${e.path ? ` (at ${e.path})` : ''}`;
}

/**
 * Inspect a sealed message. Throws (`input.too_large`, `crypto.malformed`, `crypto.header_invalid`) only
 * when there is nothing to show; every other finding is a verdict in the result.
 */
export async function inspectSealed(
  input: Buffer,
  profile: CryptoProfile,
  keys: { decryption?: KeyLookup; verification?: KeyLookup } = {},
): Promise<Inspection> {
  checkSize(input, profile.maxMessageBytes, 'the sealed message');
  const jwe = input.toString('latin1');
  const [protectedB64 = '', encryptedKey = '', iv = '', ciphertext = '', tag = ''] = splitCompact(
    jwe,
    5,
    'JWE',
  );
  const header = decodeHeader(protectedB64, 'jwe');
  let jweCheck = 'ok';
  try {
    checkJweHeader(header, profile, { typ: TYP_JWE, cty: CTY_JWE });
  } catch (err) {
    jweCheck = verdict(err);
  }
  const size = (part: string) => Buffer.from(part, 'base64url').length;
  const result: Inspection = {
    bytes: input.length,
    sha256: createHash('sha256').update(input).digest('hex'),
    jwe: {
      protected: header,
      parts: { encryptedKey: size(encryptedKey), iv: size(iv), ciphertext: size(ciphertext), tag: size(tag) },
      check: jweCheck,
    },
    jws: 'encrypted: give --keys to decrypt it and see its header (and --peer to verify its signature)',
    ok: jweCheck === 'ok',
  };
  if (keys.decryption === undefined || jweCheck !== 'ok') return result;

  let jws: string;
  try {
    const opened = await decryptJwe(jwe, keys.decryption, profile, { typ: TYP_JWE, cty: CTY_JWE });
    jws = opened.plaintext.toString('latin1');
  } catch (err) {
    return { ...result, jws: `not decrypted: ${verdict(err)}`, ok: false };
  }
  let inner: Record<string, unknown>;
  try {
    inner = decodeHeader(splitCompact(jws, 3, 'JWS')[0] ?? '', 'jws');
  } catch (err) {
    return { ...result, jws: `not a JWS: ${verdict(err)}`, ok: false };
  }
  let jwsCheck: string;
  try {
    checkJwsHeader(inner, profile, { typ: TYP_JWS });
    if (keys.verification !== undefined) {
      await verifyJws(jws, keys.verification, profile, { typ: TYP_JWS });
      jwsCheck = 'ok: the signature verifies with the pinned peer key';
    } else {
      jwsCheck = 'ok (signature not checked: give --peer)';
    }
  } catch (err) {
    jwsCheck = verdict(err);
  }
  return { ...result, jws: { protected: inner, check: jwsCheck }, ok: jwsCheck.startsWith('ok') };
}
