/**
 * The keys one gateway works with: its own signing and decryption keys, and the peer's pinned public
 * keys. Keys are selected only from these pinned sets, by `kid` and `use`; nothing in a message header
 * ever names a file, a URL or an embedded key.
 */
import jose from 'node-jose';
import { AccordError } from '../errors.js';
import { readPrivateJwks, readPublicJwks, type PrivateJwk, type PublicJwk } from './jwk.js';

export class KeyRing {
  private constructor(
    /** Own key for signing outgoing envelopes. */
    readonly signingKey: jose.JWK.Key,
    /** The peer's key outgoing messages are encrypted to. */
    readonly peerEncryptionKey: jose.JWK.Key,
    private readonly ownDecryption: Map<string, jose.JWK.Key>,
    private readonly peerVerification: Map<string, jose.JWK.Key>,
  ) {}

  /** Build a key ring from JWK Set data. The first `sig` and `enc` keys are the active ones. */
  static async fromSets(own: { keys: PrivateJwk[] }, peer: { keys: PublicJwk[] }): Promise<KeyRing> {
    const asKeys = (list: (PrivateJwk | PublicJwk)[]) => Promise.all(list.map((k) => jose.JWK.asKey(k)));
    const ownKeys = await asKeys(own.keys);
    const peerKeys = await asKeys(peer.keys);
    const byUse = (keys: jose.JWK.Key[], use: string) => keys.filter((k) => k.use === use);
    const signing = byUse(ownKeys, 'sig')[0];
    const peerEnc = byUse(peerKeys, 'enc')[0];
    if (!signing) throw new AccordError('keys.invalid', 'the private JWK Set has no signing (use "sig") key');
    if (!peerEnc) throw new AccordError('keys.invalid', 'the peer JWK Set has no encryption (use "enc") key');
    const index = (keys: jose.JWK.Key[]) => new Map(keys.map((k) => [k.kid, k]));
    return new KeyRing(signing, peerEnc, index(byUse(ownKeys, 'enc')), index(byUse(peerKeys, 'sig')));
  }

  /** Load the private set and the peer's public set from their files. */
  static async load(privateJwksPath: string, peerPublicJwksPath: string): Promise<KeyRing> {
    return KeyRing.fromSets(readPrivateJwks(privateJwksPath), readPublicJwks(peerPublicJwksPath));
  }

  /** Own decryption key for a JWE `kid`; `crypto.unknown_kid` when none is pinned. */
  decryptionKey(kid: string): jose.JWK.Key {
    const key = this.ownDecryption.get(kid);
    if (!key) throw new AccordError('crypto.unknown_kid', 'no own decryption key has this kid', { kid });
    return key;
  }

  /** The peer's verification key for a JWS `kid`; `crypto.unknown_kid` when none is pinned. */
  verificationKey(kid: string): jose.JWK.Key {
    const key = this.peerVerification.get(kid);
    if (!key) throw new AccordError('crypto.unknown_kid', 'no pinned peer signing key has this kid', { kid });
    return key;
  }
}
