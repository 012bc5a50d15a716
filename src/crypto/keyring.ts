/**
 * The keys one gateway works with: its own signing and decryption keys, and the peer's pinned public
 * keys. Keys are selected only from these pinned sets, by `kid` and `use`; nothing in a message header
 * ever names a file, a URL or an embedded key.
 */
import jose from 'node-jose';
import { AccordError } from '../errors.js';
import { parsePrivateJwks, parsePublicJwks, readPublicJwks, type PrivateJwk, type PublicJwk } from './jwk.js';
import { loadPrivateJwks, type Env, type PrivateKeySource } from './keystore.js';
import { WHAT_STOPS, acceptsAt, pickUsable, recordOf, type KeyStateFile } from './lifecycle.js';

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

/**
 * What a crypto worker needs to rebuild a ring (crypto/pool.ts): the JWK Sets as they were checked and
 * the lifecycle state. Key material: handed to worker threads only, never logged or serialised elsewhere.
 */
export interface RingSnapshot {
  own: PrivateJwk[];
  peer: PublicJwk[];
  state: KeyStateFile;
}

let ringIds = 0;

/** One key of a ring, named without its material. */
export interface KeyInventoryEntry {
  owner: 'own' | 'peer';
  kid: string;
  use: 'sig' | 'enc';
}

export class KeyRing {
  /** Resolves a JWE's `kid` to an own decryption key (refusing revoked and retired keys). */
  readonly decryptionLookup: KeyLookup;
  /** Resolves a JWS's `kid` to a pinned peer signing key (refusing revoked and retired keys). */
  readonly verificationLookup: KeyLookup;
  /** Tells rings apart in a crypto pool's workers. */
  readonly id = ++ringIds;
  private changes = 0;
  private state: KeyStateFile = { keys: [] };
  private clock: () => Date = () => new Date();
  private sets: {
    material: { own: PrivateJwk[]; peer: PublicJwk[] };
    inventory: KeyInventoryEntry[];
    ownSigning: jose.JWK.Key[];
    peerEncryption: jose.JWK.Key[];
    decryption: KeyLookup;
    verification: KeyLookup;
  };

  private constructor(
    material: { own: PrivateJwk[]; peer: PublicJwk[] },
    ownSigning: jose.JWK.Key[],
    peerEncryption: jose.JWK.Key[],
    ownDecryption: jose.JWK.Key[],
    peerVerification: jose.JWK.Key[],
  ) {
    const list = (owner: 'own' | 'peer', keys: jose.JWK.Key[]) =>
      keys.map((k) => ({ owner, kid: k.kid, use: k.use as 'sig' | 'enc' }));
    this.sets = {
      material,
      inventory: [
        ...list('own', ownSigning),
        ...list('own', ownDecryption),
        ...list('peer', peerVerification),
        ...list('peer', peerEncryption),
      ],
      ownSigning,
      peerEncryption,
      decryption: pinnedLookup(ownDecryption, 'own decryption'),
      verification: pinnedLookup(peerVerification, 'pinned peer signing'),
    };
    this.decryptionLookup = (kid) => this.accepted('own', this.sets.decryption(kid));
    this.verificationLookup = (kid) => this.accepted('peer', this.sets.verification(kid));
  }

  /**
   * Take over the keys and state of a freshly loaded ring (after `accord keys rotate`, `revoke` or
   * `import-peer` changed the files), so a running gateway switches without a restart.
   */
  adopt(other: KeyRing): this {
    this.sets = other.sets;
    this.state = other.state;
    this.changes++;
    return this;
  }

  /**
   * Apply a lifecycle state (lifecycle.ts) and the clock it is judged by; the gateway calls this again
   * whenever `accord keys …` changes the state, so rotation and revocation need no restart.
   */
  useState(state: KeyStateFile, now?: () => Date): this {
    this.state = state;
    if (now) this.clock = now;
    this.changes++;
    return this;
  }

  /** Grows with every change of keys or state ({@link adopt}, {@link useState}); a pool re-sends on change. */
  get generation(): number {
    return this.changes;
  }

  /** The instant key states are judged at, by the ring's clock. */
  now(): Date {
    return this.clock();
  }

  /** The key sets and state for a crypto worker (see {@link RingSnapshot}); never log it. */
  snapshot(): RingSnapshot {
    return { own: this.sets.material.own, peer: this.sets.material.peer, state: this.state };
  }

  /** Which keys the ring holds, by owner, kid and use (no key material), for status pages. */
  inventory(): KeyInventoryEntry[] {
    return this.sets.inventory.map((k) => ({ ...k }));
  }

  /** The lifecycle state in use. */
  get lifecycle(): KeyStateFile {
    return this.state;
  }

  private accepted(owner: 'own' | 'peer', key: jose.JWK.Key): jose.JWK.Key {
    const record = recordOf(this.state, owner, key.kid);
    if (record?.state === 'revoked') {
      throw new AccordError('crypto.key_revoked', `the ${owner} ${key.use} key was revoked`, {
        kid: key.kid,
      });
    }
    if (record?.state === 'held') {
      throw new AccordError(
        'crypto.key_held',
        `the ${owner} ${key.use} key awaits an operator's approval by thumbprint (accord keys approve)`,
        { kid: key.kid },
      );
    }
    if (!acceptsAt(record, this.clock())) {
      throw new AccordError('crypto.key_retired', `the ${owner} ${key.use} key is retired`, { kid: key.kid });
    }
    return key;
  }

  private usable(owner: 'own' | 'peer', keys: jose.JWK.Key[], what: string): jose.JWK.Key {
    const key = pickUsable(this.state, owner, keys, this.clock());
    if (key) return key;
    // Never a silent fallback to an expired, revoked or not-yet-valid key: the message waits. The code
    // says why: keys that would be in force but for their dates (expired), or none left but revoked
    // ones. `path` names the key set, which makes it a wait for a key (errors.ts), not a refusal.
    const records = keys.map((k) => recordOf(this.state, owner, k.kid));
    const inForce = records.some(
      (r) => r === undefined || r.state === 'active' || (r.state === 'next' && r.nbf !== undefined),
    );
    const revoked = keys.filter((_, i) => records[i]?.state === 'revoked').map((k) => k.kid);
    const held = keys.filter((_, i) => records[i]?.state === 'held').map((k) => k.kid);
    const use = owner === 'own' ? 'sig' : 'enc';
    const facts = { kid: keys.map((k) => k.kid).join(','), path: `keys.${owner}.${use}` };
    if (!inForce && held.length > 0) {
      throw new AccordError(
        'crypto.key_held',
        `no ${what} key is in force; ${held.join(', ')} awaits an operator's approval by thumbprint (accord keys approve)`,
        facts,
      );
    }
    if (!inForce && revoked.length > 0) {
      throw new AccordError(
        'crypto.key_revoked',
        `no ${what} key is left but revoked ones (${revoked.join(', ')}): ${WHAT_STOPS[`${owner}/${use}`]}`,
        facts,
      );
    }
    throw new AccordError('crypto.key_expired', `no ${what} key is active and valid now`, facts);
  }

  /** Why nothing could be sealed now (for readiness checks), or undefined when keys are usable. */
  unusable(): string | undefined {
    const err = this.unusableError();
    return err === undefined ? undefined : `${err.code}: ${err.message}`;
  }

  /** The error sealing would fail with now (no usable signing or peer encryption key), if any. */
  unusableError(): AccordError | undefined {
    try {
      void this.signingKey;
      void this.peerEncryptionKey;
      return undefined;
    } catch (err) {
      return err instanceof AccordError ? err : new AccordError('internal.error', 'keys unusable');
    }
  }

  /**
   * Resolves a `kid` to one of this gateway's own signing keys whatever its state, so that audit
   * checkpoints signed before a rotation still verify (src/audit/checkpoint.ts).
   */
  get ownSignatureLookup(): KeyLookup {
    return pinnedLookup(this.sets.ownSigning, 'own signing');
  }

  /**
   * The same over the own signing keys and `earlier` ones — the key history (key-history.ts) and any
   * public key an operator supplies — so checkpoints signed with a key pruned from the private set
   * still verify with the very key that signed them. A kid in both keeps the key in the set.
   */
  async ownSignatureLookupWith(earlier: readonly PublicJwk[]): Promise<KeyLookup> {
    const current = this.sets.ownSigning;
    const seen = new Set(current.map((k) => k.kid));
    const extra: PublicJwk[] = [];
    for (const k of earlier) {
      if (k.use !== 'sig' || seen.has(k.kid)) continue;
      seen.add(k.kid);
      extra.push(k);
    }
    return pinnedLookup([...current, ...(await importKeys(extra))], 'own signing');
  }

  /** Own key for signing outgoing envelopes: the first active one inside its validity period. */
  get signingKey(): jose.JWK.Key {
    return this.usable('own', this.sets.ownSigning, 'own signing');
  }

  /** The peer's key outgoing messages are encrypted to: the first active one inside its validity. */
  get peerEncryptionKey(): jose.JWK.Key {
    return this.usable('peer', this.sets.peerEncryption, 'peer encryption');
  }

  /**
   * Build a key ring from JWK Set data, checked again by the JWK Set schemas whatever its origin (a
   * file, a generator, a test). Without a lifecycle state ({@link KeyRing.useState}) the first `sig`
   * and `enc` keys are the active ones.
   */
  static async fromSets(own: { keys: PrivateJwk[] }, peer: { keys: PublicJwk[] }): Promise<KeyRing> {
    const material = {
      own: parsePrivateJwks(own, 'the private JWK Set').keys,
      peer: parsePublicJwks(peer, 'the peer JWK Set').keys,
    };
    const ownKeys = await importKeys(material.own);
    const peerKeys = await importKeys(material.peer);
    const byUse = (keys: jose.JWK.Key[], use: string) => keys.filter((k) => k.use === use);
    const signing = byUse(ownKeys, 'sig')[0];
    const peerEnc = byUse(peerKeys, 'enc')[0];
    if (!signing) throw new AccordError('keys.invalid', 'the private JWK Set has no signing (use "sig") key');
    if (!peerEnc) throw new AccordError('keys.invalid', 'the peer JWK Set has no encryption (use "enc") key');
    return new KeyRing(
      material,
      byUse(ownKeys, 'sig'),
      byUse(peerKeys, 'enc'),
      byUse(ownKeys, 'enc'),
      byUse(peerKeys, 'sig'),
    );
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
