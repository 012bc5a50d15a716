/**
 * Key operations security staff run with `accord keys …`: rotate, activate, revoke, export
 * and import-peer. Each changes the key files and `key-state.json` (lifecycle.ts), then tells running
 * gateways through Redis (watch.ts). Private keys stay encrypted at rest: a private set that was
 * encrypted is written back encrypted with the same passphrase source.
 */
import { existsSync } from 'node:fs';
import { IGNORE_REDIS_ERRORS, redisConnection } from '../store/redis-connect.js';
import { names, type Config } from '../config.js';
import {
  MAX_JWKS_BYTES,
  MAX_SET_KEYS,
  parsePrivateJwks,
  parsePublicJwks,
  readKeyFile,
  readPublicJwks,
  type PrivateJwk,
  type PrivateJwkSet,
  type PublicJwk,
  type PublicJwkSet,
} from '../crypto/jwk.js';
import { generateEc, generateP256, generateRsa, publicHalf, thumbprint } from '../crypto/keygen.js';
import {
  checkOwnerWritable,
  encryptJwks,
  isEncryptedJwks,
  loadPrivateJwks,
  readPassphrase,
  type Env,
} from '../crypto/keystore.js';
import { writeFileAtomic } from '../crypto/atomic-file.js';
import { keyHistoryPath, recordSigningKeys } from '../crypto/key-history.js';
import {
  WHAT_STOPS,
  heirsOf,
  keyStateText,
  knownByThumbprint,
  prunableAt,
  readKeyStateOf,
  recordOf,
  servesAt,
  withPruned,
  writeKeyState,
  type KeyRecord,
  type KeyRole,
  type KeyStateFile,
  type PrunedKey,
} from '../crypto/lifecycle.js';
import { checkThumbprints, thumbprints, type ThumbprintLine } from '../crypto/trust.js';
import { AccordError } from '../errors.js';
import { keysChannel, statePathOf } from './watch.js';

/** One line of `accord keys list`. */
export interface KeyListing {
  owner: 'own' | 'peer';
  kid: string;
  use: 'sig' | 'enc';
  alg: string;
  state: KeyRecord['state'];
  nbf?: string | undefined;
  exp?: string | undefined;
  retireAt?: string | undefined;
  thumbprint: string;
  /** Why a key is revoked or held. */
  reason?: string | undefined;
  /** A peer key pinned from an announcement: the kid of the key that signed it. */
  announcedBy?: string | undefined;
}

const HOUR_MS = 3_600_000;

async function readOwn(config: Config, env: Env): Promise<PrivateJwkSet> {
  return loadPrivateJwks(config.keys, env);
}

/** The pinned peer set; refused when others may change it. */
function readPinned(config: Config): PublicJwkSet {
  checkOwnerWritable(config.peer.publicJwks);
  return readPublicJwks(config.peer.publicJwks);
}

/** The pinned peer set, or undefined before the first import (no file yet). */
function readPinnedIfAny(config: Config): PublicJwkSet | undefined {
  return existsSync(config.peer.publicJwks) ? readPinned(config) : undefined;
}

/** The key state of this config's sets; refused when missing while a set holds several keys of a use. */
async function keyState(config: Config, env: Env): Promise<KeyStateFile> {
  return readKeyStateOf(statePathOf(config), {
    own: (await readOwn(config, env)).keys,
    peer: readPinnedIfAny(config)?.keys ?? [],
  });
}

/**
 * Finding 3: a set is checked before it is written, as strictly as it is loaded — at most
 * {@link MAX_SET_KEYS} keys, the JWK Set schema, the file size limit — so a rotation or a pin never
 * leaves a file that neither `accord keys` nor the gateway can load. `keys.invalid`, nothing written.
 */
function checkSetSize(file: string, what: string, count: number, waiting: readonly KeyRecord[]): void {
  if (count <= MAX_SET_KEYS) return;
  const ends = waiting
    .map((r) => r.retireAt)
    .filter((t): t is string => t !== undefined)
    .sort()[0];
  throw new AccordError(
    'keys.invalid',
    `${file}: the ${what} would hold ${count} keys, and at most ${MAX_SET_KEYS} load; keys leave it once their overlap window has passed${ends === undefined ? '' : ` (the first at ${ends})`}; nothing was written`,
  );
}

function checkTextSize(file: string, text: string): void {
  if (Buffer.byteLength(text) > MAX_JWKS_BYTES) {
    throw new AccordError(
      'keys.invalid',
      `${file}: the set would be larger than ${MAX_JWKS_BYTES} bytes; nothing was written`,
    );
  }
}

/** The private set's file content in the form it had (encrypted stays encrypted), checked to load again. */
async function ownText(config: Config, set: PrivateJwkSet, env: Env): Promise<string> {
  const file = config.keys.privateJwks;
  const checked = parsePrivateJwks(set, `${file} (to be written)`);
  let text: string;
  if (isEncryptedJwks(readKeyFile(file))) {
    const passphrase = readPassphrase(config.keys, env);
    if (!passphrase)
      throw new AccordError('keys.invalid', `${file} is encrypted, but no passphrase is available`);
    text = `${await encryptJwks(checked, passphrase)}\n`;
  } else {
    text = `${JSON.stringify(checked, null, 2)}\n`;
  }
  checkTextSize(file, text);
  return text;
}

/** The pinned set's file content, checked to load again. */
function pinnedText(config: Config, set: PublicJwkSet): string {
  const text = `${JSON.stringify(parsePublicJwks(set, `${config.peer.publicJwks} (to be written)`), null, 2)}\n`;
  checkTextSize(config.peer.publicJwks, text);
  return text;
}

/**
 * Replace a key set and the state together, in an order a crash cannot turn into trust: first the
 * state with the new records (a record for a key not yet in the set does nothing), then the set, then
 * the state without the pruned keys' records, which become pruned entries with their thumbprints (a
 * key in a set without a record would count as active). Every text is checked before the first write.
 */
function commitSet(
  statePath: string,
  file: string,
  text: string,
  staged: KeyStateFile,
  owner: 'own' | 'peer',
  removed: readonly { kid: string; thumbprint: string }[],
  now: Date,
): void {
  const final = withPruned(staged, owner, removed, now);
  const stagedText = keyStateText(statePath, staged);
  const finalText = keyStateText(statePath, final);
  writeFileAtomic(statePath, stagedText, 0o600);
  writeFileAtomic(file, text, 0o600);
  if (finalText !== stagedText) writeFileAtomic(statePath, finalText, 0o600);
}

/** The keys of a set that may leave it at `now` (lifecycle.ts `prunableAt`), and those that stay. */
function pruneSet<K extends PublicJwk | PrivateJwk>(
  config: Config,
  keys: readonly K[],
  owner: 'own' | 'peer',
  state: KeyStateFile,
  now: Date,
): { kept: K[]; removed: { kid: string; thumbprint: string }[] } {
  const overlapMs = config.keys.overlapHours * HOUR_MS;
  const kept: K[] = [];
  const removed: { kid: string; thumbprint: string }[] = [];
  for (const k of keys) {
    if (prunableAt(recordOf(state, owner, k.kid), now, overlapMs)) {
      removed.push({ kid: k.kid, thumbprint: thumbprint(k) });
    } else kept.push(k);
  }
  return { kept, removed };
}

function upsert(state: KeyStateFile, record: KeyRecord): KeyStateFile {
  const rest = state.keys.filter((k) => !(k.owner === record.owner && k.kid === record.kid));
  return { ...state, keys: [...rest, record] };
}

/** Every own and peer key with its state, dates and RFC 7638 thumbprint. */
export async function listKeys(config: Config, env: Env = process.env): Promise<KeyListing[]> {
  const state = await keyState(config, env);
  const own = (await readOwn(config, env)).keys.map(publicHalf);
  const peer = readPinned(config).keys;
  const line = (owner: 'own' | 'peer', k: (typeof peer)[number]): KeyListing => {
    const r = recordOf(state, owner, k.kid);
    return {
      owner,
      kid: k.kid,
      use: k.use,
      alg: k.alg,
      state: r?.state ?? 'active',
      nbf: r?.nbf,
      exp: r?.exp,
      retireAt: r?.retireAt,
      thumbprint: thumbprint(k),
      reason: r?.reason,
      announcedBy: r?.announcedBy,
    };
  };
  return [...own.map((k) => line('own', k)), ...peer.map((k) => line('peer', k))];
}

/** The keys pruned from either set: kid, side, use, state and thumbprint, kept for good. */
export async function prunedKeys(config: Config, env: Env = process.env): Promise<PrunedKey[]> {
  return (await keyState(config, env)).pruned ?? [];
}

/** The own public set to hand to the peer (revoked and retired keys left out), with thumbprints. */
export async function exportPublic(
  config: Config,
  env: Env = process.env,
): Promise<{ set: PublicJwkSet; thumbprints: ThumbprintLine[] }> {
  const state = await keyState(config, env);
  const keys = (await readOwn(config, env)).keys
    .filter((k) => {
      const s = recordOf(state, 'own', k.kid)?.state;
      return s !== 'revoked' && s !== 'retired';
    })
    .map(publicHalf);
  const set = { keys };
  return { set, thumbprints: thumbprints(set) };
}

/**
 * Replace the pinned peer set with `file`, but only when its thumbprints are exactly `expected`
 * (confirmed out of band). Keys new to this gateway are recorded active from `now`, so the newest
 * peer encryption key is the one messages are encrypted to.
 */
export async function importPeer(
  config: Config,
  file: string,
  expected: readonly string[],
  now: Date,
  env: Env = process.env,
): Promise<ThumbprintLine[]> {
  const set = readPublicJwks(file);
  checkThumbprints(set, expected);
  const own = (await readOwn(config, env)).keys;
  const statePath = statePathOf(config);
  // Judged with the set that replaces the pinned one: every key in it was confirmed by thumbprint.
  let state = readKeyStateOf(statePath, { own, peer: set.keys });
  // A new peer set replaces the pinned one (re-bootstrap), so only own and pruned kids collide here.
  refuseCollisions(set, own.map(publicHalf), undefined, state);
  refuseRevoked(set, state);
  // Keys pinned before keep their place; only keys new to this gateway are recorded from `now`, so a
  // rotated-in encryption key is preferred over the one it replaces. No pinned set yet: a first
  // bootstrap, every key is new.
  const before = readPinnedIfAny(config)?.keys ?? [];
  for (const k of set.keys) {
    const known = recordOf(state, 'peer', k.kid);
    if (!known && !before.some((p) => p.kid === k.kid))
      state = upsert(state, {
        kid: k.kid,
        owner: 'peer',
        use: k.use,
        state: 'active',
        nbf: now.toISOString(),
        thumbprint: thumbprint(k),
      });
  }
  // Keys of the replaced set that were retiring, retired or revoked leave their thumbprints behind.
  const dropped = before.filter(
    (k) =>
      !set.keys.some((n) => n.kid === k.kid) &&
      ['revoked', 'retired', 'retiring'].includes(recordOf(state, 'peer', k.kid)?.state ?? ''),
  );
  commitSet(
    statePath,
    config.peer.publicJwks,
    pinnedText(config, set),
    state,
    'peer',
    dropped.map((k) => ({ kid: k.kid, thumbprint: thumbprint(k) })),
    now,
  );
  return thumbprints(set);
}

async function freshLike(current: PrivateJwk, party: string, iat: number): Promise<PrivateJwk> {
  const material =
    current.kty === 'RSA'
      ? await generateRsa(Math.max(3072, Buffer.from(current.n, 'base64url').length * 8))
      : current.use === 'sig'
        ? await generateP256()
        : await generateEc(current.crv);
  const kid = `${party.toLowerCase()}-${current.use}-${thumbprint(material).slice(0, 16)}`;
  return { ...material, kid, use: current.use, alg: current.alg, iat } as PrivateJwk;
}

/**
 * Create the next key of `use` (same algorithm as the newest key of that use) in the private set, in
 * state `next`. With `activateAt` it takes over at that instant by itself, and the keys it replaces
 * retire `keys.overlapHours` later; otherwise `activateKey` makes it active.
 */
export async function rotateKey(
  config: Config,
  use: 'sig' | 'enc',
  opts: { now: Date; activateAt?: Date | undefined; validDays?: number | undefined },
  env: Env = process.env,
): Promise<{ key: PrivateJwk; thumbprint: string }> {
  const own = await readOwn(config, env);
  const current = [...own.keys].reverse().find((k) => k.use === use);
  if (!current) throw new AccordError('keys.invalid', `the private JWK Set has no ${use} key to rotate`);
  const key = await freshLike(current, config.party, Math.floor(opts.now.getTime() / 1000));
  const statePath = statePathOf(config);
  let state = await keyState(config, env);
  // Finding 3: keys whose overlap window has passed leave the set, so rotations never overflow it.
  const { kept, removed } = pruneSet(config, own.keys, 'own', state, opts.now);
  const exp =
    opts.validDays === undefined
      ? undefined
      : new Date((opts.activateAt ?? opts.now).getTime() + opts.validDays * 24 * HOUR_MS).toISOString();
  state = upsert(state, {
    kid: key.kid,
    owner: 'own',
    use,
    state: 'next',
    ...(opts.activateAt ? { nbf: opts.activateAt.toISOString() } : {}),
    ...(exp ? { exp } : {}),
    thumbprint: thumbprint(key),
  });
  if (opts.activateAt) {
    const retireAt = new Date(opts.activateAt.getTime() + config.keys.overlapHours * HOUR_MS).toISOString();
    for (const k of kept.filter((k) => k.use === use)) {
      const r = recordOf(state, 'own', k.kid);
      if (r?.state === 'revoked' || r?.state === 'retired') continue;
      state = upsert(state, { ...(r ?? { kid: k.kid, owner: 'own', use, state: 'active' }), retireAt });
    }
  }
  const next = [...kept, key];
  checkSetSize(
    config.keys.privateJwks,
    'private set',
    next.length,
    state.keys.filter((r) => r.owner === 'own'),
  );
  const text = await ownText(config, { keys: next }, env);
  // Finding 5: every own signing key, the new one and those about to be pruned, stays in the key
  // history first, so the audit checkpoints it signs verify for good.
  recordSigningKeys(keyHistoryPath(statePath), [...own.keys, key].map(publicHalf), opts.now);
  commitSet(statePath, config.keys.privateJwks, text, state, 'own', removed, opts.now);
  return { key, thumbprint: thumbprint(key) };
}

/**
 * Make own key `kid` active now; the other active keys of its use become `retiring` and stop
 * verifying/decrypting `keys.overlapHours` later.
 */
export async function activateKey(
  config: Config,
  kid: string,
  now: Date,
  env: Env = process.env,
): Promise<void> {
  const own = await readOwn(config, env);
  const key = own.keys.find((k) => k.kid === kid);
  if (!key) throw new AccordError('keys.unknown_kid', 'no own key has this kid', { kid });
  const statePath = statePathOf(config);
  let state = await keyState(config, env);
  const r = recordOf(state, 'own', kid);
  if (r?.state === 'revoked' || r?.state === 'retired') {
    throw new AccordError('crypto.key_revoked', `a ${r.state} key is never activated again`, { kid });
  }
  const retireAt = new Date(now.getTime() + config.keys.overlapHours * HOUR_MS).toISOString();
  for (const k of own.keys.filter((k) => k.use === key.use && k.kid !== kid)) {
    const o = recordOf(state, 'own', k.kid);
    if (o && o.state !== 'active' && o.state !== 'next') continue;
    state = upsert(state, {
      ...(o ?? { kid: k.kid, owner: 'own', use: key.use }),
      state: 'retiring',
      retireAt,
    });
  }
  state = upsert(state, {
    ...(r ?? { kid, owner: 'own', use: key.use }),
    state: 'active',
    nbf: now.toISOString(),
  });
  writeKeyState(statePath, state);
}

/** Names a key for `revoke`: by kid (with the side when the kid is both an own and a peer kid) or by thumbprint. */
export interface KeyRef {
  kid?: string | undefined;
  /** RFC 7638 thumbprint: names one key whatever its kid. */
  thumbprint?: string | undefined;
  /** Whose key: required when a kid is both an own and a pinned peer kid. */
  owner?: 'own' | 'peer' | undefined;
}

/** A key found by {@link resolveKey}: its side, its public half and its thumbprint. */
export interface ResolvedKey {
  owner: 'own' | 'peer';
  key: PublicJwk;
  thumbprint: string;
}

/**
 * Find the one key `ref` names among the own and pinned keys. A kid both sides hold is refused
 * (`keys.kid_ambiguous`) unless `ref.owner` says which; no match is `keys.unknown_kid`.
 */
export async function resolveKey(config: Config, ref: KeyRef, env: Env = process.env): Promise<ResolvedKey> {
  const own = (await readOwn(config, env)).keys.map(publicHalf);
  const peer = readPinned(config).keys;
  const all = [
    ...own.map((key) => ({ owner: 'own' as const, key, thumbprint: thumbprint(key) })),
    ...peer.map((key) => ({ owner: 'peer' as const, key, thumbprint: thumbprint(key) })),
  ];
  const matches = all.filter(
    (k) =>
      (ref.kid === undefined || k.key.kid === ref.kid) &&
      (ref.thumbprint === undefined || k.thumbprint === ref.thumbprint) &&
      (ref.owner === undefined || k.owner === ref.owner),
  );
  const named = ref.kid ?? ref.thumbprint ?? '';
  if (ref.kid === undefined && ref.thumbprint === undefined) {
    throw new AccordError('schema.invalid', 'name the key by kid or by --thumbprint', { path: 'kid' });
  }
  const first = matches[0];
  if (!first) {
    throw new AccordError(
      'keys.unknown_kid',
      `no ${ref.owner === undefined ? 'own or peer' : ref.owner} key has this ${ref.kid === undefined ? 'thumbprint' : 'kid'}`,
      { kid: named },
    );
  }
  if (matches.length > 1) {
    throw new AccordError(
      'keys.kid_ambiguous',
      'this kid names an own key and a pinned peer key: say which with --own or --peer, or give --thumbprint',
      { kid: named },
    );
  }
  return first;
}

/**
 * Revoke an own or peer key: from now on it neither signs nor is accepted (`crypto.key_revoked`).
 * `ref` is a kid (any side, refused when both sides hold it) or a {@link KeyRef}. Returns the side.
 */
export async function revokeKey(
  config: Config,
  ref: string | KeyRef,
  reason: string,
  now: Date,
  opts: { force?: boolean | undefined } = {},
  env: Env = process.env,
): Promise<{ owner: 'own' | 'peer'; kid: string; held: string[] }> {
  const named = typeof ref === 'string' ? { kid: ref } : ref;
  const statePath = statePathOf(config);
  let state = await keyState(config, env);
  let found: ResolvedKey;
  try {
    found = await resolveKey(config, named, env);
  } catch (err) {
    // A peer key pruned from the set may still turn out compromised: its revocation holds its heirs.
    const gone = prunedPeerKey(state, named, err);
    state = {
      ...state,
      pruned: (state.pruned ?? []).map((p) =>
        p === gone ? { ...p, state: 'revoked' as const, revokedAt: now.toISOString(), reason } : p,
      ),
    };
    const held = holdHeirs(state, gone.kid);
    writeKeyState(statePath, held.state);
    return { owner: 'peer', kid: gone.kid, held: held.kids };
  }
  const { owner, key } = found;
  const kid = key.kid;
  const r = recordOf(state, owner, kid);
  const stops = await whatRevokingStops(config, { owner, key }, now, env);
  if (stops !== undefined && opts.force !== true) {
    throw new AccordError(
      'keys.last_usable_key',
      `${kid} is the last usable ${owner} ${key.use} key: revoking it, ${stops}. ${
        owner === 'own'
          ? `Rotate first (accord keys rotate --use ${key.use})`
          : 'Pin the peer’s successor first (its announcement, or accord keys import-peer)'
      }, or repeat with --force`,
      { kid },
    );
  }
  state = upsert(state, {
    ...(r ?? { kid, owner, use: key.use }),
    state: 'revoked',
    revokedAt: now.toISOString(),
    reason,
    thumbprint: found.thumbprint,
  });
  // Finding 1: what the revoked key announced is trusted no more than the key itself.
  const held = owner === 'peer' ? holdHeirs(state, kid) : { state, kids: [] };
  writeKeyState(statePath, held.state);
  return { owner, kid, held: held.kids };
}

/** The pruned peer key `ref` names, or the resolver's error again when there is none. */
function prunedPeerKey(state: KeyStateFile, ref: KeyRef, err: unknown): PrunedKey {
  const gone =
    ref.owner === 'own'
      ? undefined
      : state.pruned?.find(
          (p) =>
            p.owner === 'peer' &&
            (ref.kid === undefined || p.kid === ref.kid) &&
            (ref.thumbprint === undefined || p.thumbprint === ref.thumbprint),
        );
  if (gone === undefined || !(err instanceof AccordError) || err.code !== 'keys.unknown_kid') throw err;
  return gone;
}

/**
 * Finding 1 of the key-trust review: hold every peer key whose trust rests on the revoked `kid`
 * (lifecycle.ts `heirsOf`): it neither verifies nor is encrypted to until security staff approve it by
 * thumbprint or revoke it, and its `reason` says why (`accord keys list`).
 */
function holdHeirs(state: KeyStateFile, kid: string): { state: KeyStateFile; kids: string[] } {
  const kids = heirsOf(state, kid);
  let next = state;
  for (const heir of kids) {
    const r = recordOf(next, 'peer', heir);
    if (!r) continue;
    next = upsert(next, {
      ...r,
      state: 'held',
      reason: `announced by revoked key ${kid}${r.announcedBy === kid ? '' : ` (through ${r.announcedBy})`}; approve by thumbprint (accord keys approve) or revoke`,
    });
  }
  return { state: next, kids };
}

/**
 * Finding 1: approve a held peer key by its RFC 7638 thumbprint, read back with the peer over a second
 * channel. It becomes active now, and the peer's other keys of its use retire after
 * `keys.overlapHours`. An active key approved this way keeps its trust if its announcer is revoked later.
 */
export async function approveKey(
  config: Config,
  tp: string,
  now: Date,
  env: Env = process.env,
): Promise<{ kid: string; use: 'sig' | 'enc'; was: KeyRecord['state'] }> {
  const pinned = readPinned(config);
  const key = pinned.keys.find((k) => thumbprint(k) === tp);
  if (!key) throw new AccordError('keys.unknown_kid', 'no pinned peer key has this thumbprint');
  const statePath = statePathOf(config);
  let state = await keyState(config, env);
  const record = recordOf(state, 'peer', key.kid);
  const was = record?.state ?? 'active';
  if (was === 'revoked' || was === 'retired') {
    throw new AccordError('crypto.key_revoked', `a ${was} key is never approved again`, { kid: key.kid });
  }
  if (was === 'held') {
    const retireAt = new Date(now.getTime() + config.keys.overlapHours * HOUR_MS).toISOString();
    for (const old of pinned.keys.filter((p) => p.use === key.use && p.kid !== key.kid)) {
      const o = recordOf(state, 'peer', old.kid);
      if (o && o.state !== 'active' && o.state !== 'next') continue;
      state = upsert(state, {
        ...(o ?? { kid: old.kid, owner: 'peer', use: old.use }),
        state: 'retiring',
        retireAt,
        thumbprint: thumbprint(old),
      });
    }
  }
  // The reason it was held no longer holds.
  const { reason: _reason, ...rest } = record ?? {
    kid: key.kid,
    owner: 'peer' as const,
    use: key.use,
    state: 'active' as const,
  };
  state = upsert(state, {
    ...rest,
    state: was === 'held' ? 'active' : was,
    ...(was === 'held' ? { nbf: now.toISOString() } : {}),
    approvedAt: now.toISOString(),
    thumbprint: tp,
  });
  writeKeyState(statePath, state);
  return { kid: key.kid, use: key.use, was };
}

/**
 * Finding 2 of the key-trust review: the peer never names one of our keys. A peer key whose kid is an
 * own kid, or a pinned kid with another thumbprint, is refused (`keys.kid_collision`); the same key
 * again (same kid, same thumbprint) is not a collision, so a resent announcement stays idempotent.
 */
function refuseCollisions(
  incoming: PublicJwkSet,
  own: readonly PublicJwk[],
  pinned: PublicJwkSet | undefined,
  state?: KeyStateFile,
): void {
  for (const k of incoming.keys) {
    const gone = state?.pruned?.find((p) => p.kid === k.kid);
    if (gone && gone.thumbprint !== thumbprint(k)) {
      throw new AccordError('keys.kid_collision', 'a peer key carries the kid of a key pruned before', {
        kid: k.kid,
      });
    }
    if (own.some((o) => o.kid === k.kid)) {
      throw new AccordError('keys.kid_collision', 'a peer key carries the kid of one of our own keys', {
        kid: k.kid,
      });
    }
    const same = pinned?.keys.find((p) => p.kid === k.kid);
    if (same && thumbprint(same) !== thumbprint(k)) {
      throw new AccordError('keys.kid_collision', 'a peer key carries the kid of another pinned key', {
        kid: k.kid,
      });
    }
  }
}

/**
 * Finding 6: what stops working when `target` is revoked, or undefined when another key of its side and
 * use still does the work (signs, opens, or is encrypted to) at `now`.
 */
export async function whatRevokingStops(
  config: Config,
  target: { owner: 'own' | 'peer'; key: PublicJwk },
  now: Date,
  env: Env = process.env,
): Promise<string | undefined> {
  const { owner, key } = target;
  const state = await keyState(config, env);
  const role: KeyRole = `${owner}/${key.use}`;
  if (!servesAt(role, recordOf(state, owner, key.kid), now)) return undefined;
  const side = owner === 'own' ? (await readOwn(config, env)).keys.map(publicHalf) : readPinned(config).keys;
  const others = side.filter((k) => k.use === key.use && k.kid !== key.kid);
  if (others.some((k) => servesAt(role, recordOf(state, owner, k.kid), now))) return undefined;
  return WHAT_STOPS[role];
}

/**
 * A key this gateway revoked never comes back, under its kid or another one: its revocation is found
 * by kid or by thumbprint, in the records and among the pruned keys.
 */
function refuseRevoked(incoming: PublicJwkSet, state: KeyStateFile): void {
  for (const k of incoming.keys) {
    const byTp = knownByThumbprint(state, 'peer', thumbprint(k));
    if (recordOf(state, 'peer', k.kid)?.state === 'revoked' || byTp?.state === 'revoked') {
      throw new AccordError('crypto.key_revoked', 'the set holds a key this gateway revoked', { kid: k.kid });
    }
  }
}

/** Tell running gateways of this config to reload their keys (Redis pub/sub, see watch.ts). */
export async function notifyGateways(config: Config): Promise<number> {
  const redis = redisConnection(
    config.redis,
    { lazyConnect: true, maxRetriesPerRequest: 1 },
    IGNORE_REDIS_ERRORS,
  );
  try {
    await redis.connect();
    return await redis.publish(keysChannel(names(config.namespace).redisPrefix), 'changed');
  } catch (err) {
    throw new AccordError('infra.unavailable', 'cannot tell running gateways (Redis)', { cause: err });
  } finally {
    redis.disconnect();
  }
}

/** The public halves of own keys, by kid (for an in-band key announcement). */
export async function ownPublicKeys(
  config: Config,
  kids: readonly string[],
  env: Env = process.env,
): Promise<PublicJwkSet['keys']> {
  const own = await readOwn(config, env);
  return own.keys.filter((k) => kids.includes(k.kid)).map(publicHalf);
}

/**
 * Pin keys the peer announced in a signed `key-announcement` (checked with the peer key in
 * force, so the trust carries over from the bootstrap). Each new key is active from `now`; the peer's
 * other keys of the same use retire `keys.overlapHours` later (messages signed or sealed before the
 * switch still verify). A key this gateway revoked is refused; a key pinned before is left as it is.
 * Returns the kids newly pinned.
 */
export async function pinAnnouncedKeys(
  config: Config,
  announced: PublicJwkSet,
  now: Date,
  opts: { announcedBy?: string | undefined } = {},
  env: Env = process.env,
): Promise<string[]> {
  const pinned = readPinned(config);
  const own = (await readOwn(config, env)).keys.map(publicHalf);
  const statePath = statePathOf(config);
  let state = await keyState(config, env);
  refuseCollisions(announced, own, pinned, state);
  refuseRevoked(announced, state);
  const fresh = announced.keys.filter((k) => !pinned.keys.some((p) => p.kid === k.kid));
  if (fresh.length === 0) return [];
  // Finding 3: pinned keys whose overlap window has passed leave the set as new ones come in.
  const { kept, removed } = pruneSet(config, pinned.keys, 'peer', state, now);
  const retireAt = new Date(now.getTime() + config.keys.overlapHours * HOUR_MS).toISOString();
  const by = opts.announcedBy;
  for (const k of fresh) {
    // Finding 1: an announced signing key signs nothing until approved by thumbprint; the key in force
    // stays until then.
    const hold = config.keys.approveAnnouncedSigningKeys && k.use === 'sig';
    if (!hold) {
      for (const old of kept.filter((p) => p.use === k.use)) {
        const r = recordOf(state, 'peer', old.kid);
        if (r?.state === 'revoked' || r?.state === 'retired' || r?.state === 'held') continue;
        state = upsert(state, {
          ...(r ?? { kid: old.kid, owner: 'peer', use: old.use }),
          state: 'retiring',
          retireAt,
          thumbprint: thumbprint(old),
        });
      }
    }
    state = upsert(state, {
      kid: k.kid,
      owner: 'peer',
      use: k.use,
      state: hold ? 'held' : 'active',
      nbf: now.toISOString(),
      thumbprint: thumbprint(k),
      ...(by === undefined ? {} : { announcedBy: by }),
      ...(hold
        ? {
            reason: `announced by ${by ?? 'the peer'}; approve by thumbprint once confirmed with the peer (accord keys approve)`,
          }
        : {}),
    });
  }
  const next = [...kept, ...fresh];
  checkSetSize(
    config.peer.publicJwks,
    'pinned peer set',
    next.length,
    state.keys.filter((r) => r.owner === 'peer'),
  );
  commitSet(
    statePath,
    config.peer.publicJwks,
    pinnedText(config, { keys: next }),
    state,
    'peer',
    removed,
    now,
  );
  return fresh.map((k) => k.kid);
}
