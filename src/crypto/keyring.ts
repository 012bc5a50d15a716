/**
 * The keys one gateway works with: its own signing and decryption keys, and the peer's pinned public
 * keys. Keys are selected only from these pinned sets, by `kid` and `use`; nothing in a message header
 * ever names a file, a URL or an embedded key.
 */
import jose from 'node-jose';
import { AccordError } from '../errors.js';
import { parsePrivateJwks, parsePublicJwks, readPublicJwks, type PrivateJwk, type PublicJwk } from './jwk.js';
import { loadPrivateJwks, type Env, type PrivateKeySource } from './keystore.js';

/**
 * Resolves the pinned key a protected header's `kid` names, or throws `crypto.unknown_kid`. Lookups
 * are made by {@link pinnedLookup}; the open path never builds a key from a header.
 */
export type KeyLookup = (kid: string | undefined) => jose.JWK.Key;

/**
 * A lookup over a fixed list of keys of one use. With `requireKid` (Accord's traffic) a header must
 * name its key; without it (a verifier handed one key out of band, as the public test vectors assume)
 * a header without `kid` gets the only key there is, and is refused when there are several.
 */
export function pinnedLookup(
  keys: readonly jose.JWK.Key[],
  what: string,
  options: { requireKid: boolean } = { requireKid: true },
): KeyLookup {
  const byKid = new Map<string, jose.JWK.Key>();
  for (const k of keys) {
    if (byKid.has(k.kid))
      throw new AccordError('keys.invalid', `two ${what} keys share a kid`, { kid: k.kid });
    byKid.set(k.kid, k);
  }
  return (kid) => {
    if (kid === undefined) {
      const only = keys.length === 1 ? keys[0] : undefined;
      if (options.requireKid || !only) {
        throw new AccordError(
          'crypto.unknown_kid',
          `the header names no kid, and ${what} keys are selected by kid`,
        );
      }
      return only;
    }
    const key = byKid.get(kid);
    if (!key) throw new AccordError('crypto.unknown_kid', `no ${what} key has this kid`, { kid });
    return key;
  };
}

/** Import JWKs as node-jose keys (they were checked by the JWK Set schemas before). */
export async function importKeys(list: readonly (PrivateJwk | PublicJwk)[]): Promise<jose.JWK.Key[]> {
  return Promise.all(list.map((k) => jose.JWK.asKey(k)));
}

export class KeyRing {
  /** Resolves a JWE's `kid` to an own decryption key. */
  readonly decryptionLookup: KeyLookup;
  /** Resolves a JWS's `kid` to a pinned peer signing key. */
  readonly verificationLookup: KeyLookup;

  private constructor(
    /** Own key for signing outgoing envelopes. */
    readonly signingKey: jose.JWK.Key,
    /** The peer's key outgoing messages are encrypted to. */
    readonly peerEncryptionKey: jose.JWK.Key,
    ownDecryption: jose.JWK.Key[],
    peerVerification: jose.JWK.Key[],
  ) {
    this.decryptionLookup = pinnedLookup(ownDecryption, 'own decryption');
    this.verificationLookup = pinnedLookup(peerVerification, 'pinned peer signing');
  }

  /**
   * Build a key ring from JWK Set data, checked again by the JWK Set schemas whatever its origin (a
   * file, a generator, a test). The first `sig` and `enc` keys are the active ones.
   */
  static async fromSets(own: { keys: PrivateJwk[] }, peer: { keys: PublicJwk[] }): Promise<KeyRing> {
    const ownKeys = await importKeys(parsePrivateJwks(own, 'the private JWK Set').keys);
    const peerKeys = await importKeys(parsePublicJwks(peer, 'the peer JWK Set').keys);
    const byUse = (keys: jose.JWK.Key[], use: string) => keys.filter((k) => k.use === use);
    const signing = byUse(ownKeys, 'sig')[0];
    const peerEnc = byUse(peerKeys, 'enc')[0];
    if (!signing) throw new AccordError('keys.invalid', 'the private JWK Set has no signing (use "sig") key');
    if (!peerEnc) throw new AccordError('keys.invalid', 'the peer JWK Set has no encryption (use "enc") key');
    return new KeyRing(signing, peerEnc, byUse(ownKeys, 'enc'), byUse(peerKeys, 'sig'));
  }

  /**
   * Load the private set (plain or passphrase-encrypted, owner-only; see keystore.ts) and the peer's
   * public set from their files. A bare path is a private file with no passphrase source.
   */
  static async load(
    own: string | PrivateKeySource,
    peerPublicJwksPath: string,
    env: Env = process.env,
  ): Promise<KeyRing> {
    const source = typeof own === 'string' ? { privateJwks: own } : own;
    return KeyRing.fromSets(await loadPrivateJwks(source, env), readPublicJwks(peerPublicJwksPath));
  }

  /** Own decryption key for a JWE `kid`; `crypto.unknown_kid` when none is pinned. */
  decryptionKey(kid: string | undefined): jose.JWK.Key {
    return this.decryptionLookup(kid);
  }

  /** The peer's verification key for a JWS `kid`; `crypto.unknown_kid` when none is pinned. */
  verificationKey(kid: string | undefined): jose.JWK.Key {
    return this.verificationLookup(kid);
  }
}
