/**
 * Key lifecycle (Art. 10(7), 11(1)): each key of either party has a state — next → active →
 * retiring → retired, or revoked — and a validity period. The state lives in a small JSON file beside
 * the private JWK Set (`key-state.json`), not in Redis: it belongs with the keys it describes, is
 * backed up and restored with them, and must survive a Redis loss (a lost "revoked" mark would let a
 * compromised key back in). The file holds kids, states, dates and reasons only — never key material.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { AccordError } from '../errors.js';
import { writeFileAtomic } from './atomic-file.js';
import { checkOwnerOnly } from './keystore.js';

/**
 * The states a key goes through. `held`: a peer key pinned from an announcement that neither verifies
 * nor is encrypted to until security staff approve it by thumbprint (`accord keys approve`) — an
 * announced signing key (`keys.approveAnnouncedSigningKeys`), or any key announced by a key that was
 * revoked since (a revoked key holds the keys it announced); `reason` says which.
 */
export const KEY_STATES = ['next', 'active', 'retiring', 'retired', 'revoked', 'held'] as const;
export type KeyState = (typeof KEY_STATES)[number];

/** A key state file larger than this is refused before it is read. */
const MAX_STATE_BYTES = 1024 * 1024;

/**
 * How many pruned keys the state file remembers. Revoked ones are never forgotten; the oldest retired
 * ones go first once there are more.
 */
export const MAX_PRUNED = 2000;

const Kid = z.string().min(1).max(128);
const Instant = z.iso.datetime({ offset: true });
const Thumbprint = z.string().regex(/^[A-Za-z0-9_-]{43}$/);

/** What is known about one key (own or the peer's). */
export const KeyRecord = z.strictObject({
  kid: Kid,
  /** Whose key: this gateway's own, or the pinned peer's. */
  owner: z.enum(['own', 'peer']),
  use: z.enum(['sig', 'enc']),
  state: z.enum(KEY_STATES),
  /** Not before: the key is not used (signing, encrypting to it) before this instant. */
  nbf: Instant.optional(),
  /** Expiry: the key never signs (and is not encrypted to) from this instant on. */
  exp: Instant.optional(),
  /** When a retiring key stops verifying/decrypting (end of the overlap window). */
  retireAt: Instant.optional(),
  /** Why the key was revoked (free text from the operator, no personal data), and when. */
  revokedAt: Instant.optional(),
  /** Why the key is revoked or held (free text, no personal data). */
  reason: z.string().min(1).max(500).optional(),
  /**
   * A peer key pinned from a `key-announcement`: the kid of the peer signing key whose signature carried
   * it. Revoking that key holds this one (and its own heirs), unless an operator approved it by thumbprint.
   */
  announcedBy: Kid.optional(),
  /** When security staff approved the key by its thumbprint: its trust no longer rests on its announcer. */
  approvedAt: Instant.optional(),
  /** RFC 7638 thumbprint of the key: names it whatever its kid, and outlives it once pruned. */
  thumbprint: Thumbprint.optional(),
});
export type KeyRecord = z.infer<typeof KeyRecord>;

/**
 * A key removed from its set once its overlap window had passed (retired) or after its revocation was
 * shown for that long (revoked). Its thumbprint stays, so it is never pinned or trusted again.
 */
export const PrunedKey = z.strictObject({
  kid: Kid,
  owner: z.enum(['own', 'peer']),
  use: z.enum(['sig', 'enc']),
  state: z.enum(['retired', 'revoked']),
  thumbprint: Thumbprint,
  prunedAt: Instant,
  revokedAt: Instant.optional(),
  reason: z.string().min(1).max(500).optional(),
});
export type PrunedKey = z.infer<typeof PrunedKey>;

export const KeyStateFile = z
  .strictObject({
    keys: z.array(KeyRecord).max(256),
    pruned: z.array(PrunedKey).max(MAX_PRUNED).optional(),
  })
  .superRefine((f, ctx) => {
    const seen = new Set<string>();
    f.keys.forEach((k, i) => {
      const id = `${k.owner}/${k.kid}`;
      if (seen.has(id)) ctx.addIssue({ code: 'custom', path: ['keys', i, 'kid'], message: 'duplicate kid' });
      seen.add(id);
    });
  });
export type KeyStateFile = z.infer<typeof KeyStateFile>;

/** Where the state of the keys in `privateJwks` is kept unless the config names a file. */
export function defaultStatePath(privateJwks: string): string {
  return join(dirname(privateJwks), 'key-state.json');
}

/**
 * Read a key state file; a missing file is an empty state (every key then counts as active). An
 * existing file must be owner-only like the private set (`keys.invalid`): it holds what was revoked.
 */
export function readKeyState(file: string): KeyStateFile {
  let text: string;
  try {
    const buf = readFileSync(file);
    checkOwnerOnly(file);
    if (buf.length > MAX_STATE_BYTES) {
      throw new AccordError('keys.invalid', `${file}: larger than ${MAX_STATE_BYTES} bytes`);
    }
    text = buf.toString('utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { keys: [] };
    if (err instanceof AccordError) throw err;
    throw new AccordError('keys.invalid', `${file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new AccordError('keys.invalid', `${file}: not JSON`);
  }
  const parsed = KeyStateFile.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = (issue?.path ?? []).join('.');
    throw new AccordError(
      'keys.invalid',
      `${file}: not a valid key state at ${path || '(root)'}: ${issue?.message}`,
      {
        path,
      },
    );
  }
  return parsed.data;
}

/**
 * Finding 4 of the key-trust review: read the state of these key sets, refusing (`keys.state_missing`)
 * when the file is missing but a set holds more than one key of a use. Without the file every key
 * would count as active again — a revoked key among them — so the gateway does not start on a guess;
 * a set with one key per use (a first bootstrap, or before any lifecycle command) needs no state.
 */
export function readKeyStateOf(
  file: string,
  sets: { own: readonly { use: string }[]; peer: readonly { use: string }[] },
): KeyStateFile {
  if (!existsSync(file)) {
    for (const [owner, keys] of [
      ['own', sets.own],
      ['peer', sets.peer],
    ] as const) {
      for (const use of ['sig', 'enc']) {
        const n = keys.filter((k) => k.use === use).length;
        if (n > 1) {
          throw new AccordError(
            'keys.state_missing',
            `${file} is missing, but the ${owner} set holds ${n} ${use} keys: restore key-state.json from the backup of the keys (without it a revoked or retired key would count as active)`,
          );
        }
      }
    }
  }
  return readKeyState(file);
}

/**
 * The text a key state file would hold, checked as strictly as it is read (`keys.invalid` otherwise):
 * what is written always loads again.
 */
export function keyStateText(file: string, state: KeyStateFile): string {
  const parsed = KeyStateFile.safeParse(state);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AccordError(
      'keys.invalid',
      `${file}: the key state to write is not valid at ${(issue?.path ?? []).join('.') || '(root)'}: ${issue?.message}; nothing was written`,
    );
  }
  const text = `${JSON.stringify(parsed.data, null, 2)}\n`;
  if (Buffer.byteLength(text) > MAX_STATE_BYTES) {
    throw new AccordError('keys.invalid', `${file}: the key state would exceed ${MAX_STATE_BYTES} bytes`);
  }
  return text;
}

/** Write a key state file atomically and durably (atomic-file.ts), owner-only; checked first. */
export function writeKeyState(file: string, state: KeyStateFile): void {
  writeFileAtomic(file, keyStateText(file, state), 0o600);
}

/**
 * Finding 3 of the key-trust review: whether a key may leave its set at `now` — retired, past the end
 * of its overlap window (`retireAt`), or revoked for longer than the overlap window (so `keys list`
 * shows a revocation for a while before the key goes). Active, next and unrecorded keys stay.
 */
export function prunableAt(record: KeyRecord | undefined, now: Date, overlapMs: number): boolean {
  if (!record) return false;
  const t = now.getTime();
  if (record.state === 'retired') return true;
  if (record.state === 'retiring') return record.retireAt !== undefined && Date.parse(record.retireAt) <= t;
  if (record.state === 'revoked') {
    return record.revokedAt === undefined || Date.parse(record.revokedAt) + overlapMs <= t;
  }
  return false;
}

/**
 * The state once `removed` keys (of `owner`) left their set: their records become pruned entries with
 * their thumbprints. Beyond {@link MAX_PRUNED}, the oldest retired entries are forgotten, never a revoked one.
 */
export function withPruned(
  state: KeyStateFile,
  owner: 'own' | 'peer',
  removed: readonly { kid: string; thumbprint: string }[],
  now: Date,
): KeyStateFile {
  const gone = new Map(removed.map((k) => [k.kid, k.thumbprint]));
  const entries: PrunedKey[] = [];
  for (const r of state.keys) {
    const tp = r.owner === owner ? gone.get(r.kid) : undefined;
    if (tp === undefined) continue;
    entries.push({
      kid: r.kid,
      owner,
      use: r.use,
      state: r.state === 'revoked' ? 'revoked' : 'retired',
      thumbprint: tp,
      prunedAt: now.toISOString(),
      ...(r.revokedAt === undefined ? {} : { revokedAt: r.revokedAt }),
      ...(r.reason === undefined ? {} : { reason: r.reason }),
    });
  }
  let pruned = [...(state.pruned ?? []), ...entries];
  while (pruned.length > MAX_PRUNED) {
    const oldestRetired = pruned.findIndex((p) => p.state === 'retired');
    if (oldestRetired < 0) break;
    pruned = pruned.filter((_, i) => i !== oldestRetired);
  }
  return {
    keys: state.keys.filter((r) => !(r.owner === owner && gone.has(r.kid))),
    pruned,
  };
}

/** What the state remembers of a key by thumbprint (a record or a pruned entry), if anything. */
export function knownByThumbprint(
  state: KeyStateFile,
  owner: 'own' | 'peer',
  thumbprint: string,
): { kid: string; state: KeyState } | undefined {
  return (
    state.keys.find((k) => k.owner === owner && k.thumbprint === thumbprint) ??
    state.pruned?.find((p) => p.owner === owner && p.thumbprint === thumbprint)
  );
}

/** The record of a key, if the state file has one. */
export function recordOf(state: KeyStateFile, owner: 'own' | 'peer', kid: string): KeyRecord | undefined {
  return state.keys.find((k) => k.owner === owner && k.kid === kid);
}

/** Whether a key may verify or decrypt at `now`: not revoked, not retired, not past its overlap window. */
export function acceptsAt(record: KeyRecord | undefined, now: Date): boolean {
  if (!record) return true;
  if (record.state === 'revoked' || record.state === 'retired' || record.state === 'held') return false;
  if (record.retireAt !== undefined && Date.parse(record.retireAt) <= now.getTime()) return false;
  return true;
}

/**
 * Whether a key may sign (own `sig`) or be encrypted to (peer `enc`) at `now`: active (a key with no
 * record counts as active, so a gateway without a state file behaves as before), or `next` with an
 * `nbf` that has come (`accord keys rotate --activate-at`); and inside its validity.
 */
export function usableAt(record: KeyRecord | undefined, now: Date): boolean {
  if (!record) return true;
  const scheduled = record.state === 'next' && record.nbf !== undefined;
  if (record.state !== 'active' && !scheduled) return false;
  if (record.nbf !== undefined && Date.parse(record.nbf) > now.getTime()) return false;
  if (record.exp !== undefined && Date.parse(record.exp) <= now.getTime()) return false;
  return true;
}

/**
 * Finding 1: the peer keys whose trust rests on `kid` — announced by it, or by a key announced by it,
 * and so on — leaving out keys an operator approved by thumbprint (their trust stands on its own) and
 * keys already revoked. The kids, nearest first.
 */
export function heirsOf(state: KeyStateFile, kid: string): string[] {
  const heirs: string[] = [];
  const queue = [kid];
  const seen = new Set(queue);
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    for (const r of state.keys) {
      if (r.owner !== 'peer' || r.announcedBy !== next || seen.has(r.kid)) continue;
      if (r.approvedAt !== undefined || r.state === 'revoked') continue;
      seen.add(r.kid);
      heirs.push(r.kid);
      queue.push(r.kid);
    }
  }
  return heirs;
}

/** Which side's key of which use, e.g. `own/sig`. */
export type KeyRole = `${'own' | 'peer'}/${'sig' | 'enc'}`;

/**
 * What stops when a side has no usable key of a use left: what
 * `accord keys revoke` warns of, and what readiness and alerts name.
 */
export const WHAT_STOPS: Record<KeyRole, string> = {
  'own/sig':
    'nothing can be signed: no message, receipt or key announcement goes out, and the peer is not told of the revocation in band (tell it by phone)',
  'own/enc': 'nothing the peer sends can be decrypted',
  'peer/sig': 'nothing from the peer verifies: none of its messages or receipts is accepted',
  'peer/enc': 'nothing can be encrypted to the peer: no message goes out',
};

/**
 * Whether a key does its work at `now`: an own signing key or a peer encryption key signs or is
 * encrypted to ({@link usableAt}); an own decryption key or a peer signing key opens ({@link acceptsAt}).
 */
export function servesAt(role: KeyRole, record: KeyRecord | undefined, now: Date): boolean {
  return role === 'own/sig' || role === 'peer/enc' ? usableAt(record, now) : acceptsAt(record, now);
}

/** Days until each key with an expiry expires (negative once expired), for alerts and metrics. */
export interface KeyExpiry {
  kid: string;
  owner: 'own' | 'peer';
  use: 'sig' | 'enc';
  state: KeyState;
  exp: string;
  daysLeft: number;
}

const DAY_MS = 86_400_000;

/** "Days until each key expires", for every key with an `exp` that is not revoked or retired. */
export function daysUntilExpiry(state: KeyStateFile, now: Date): KeyExpiry[] {
  return state.keys
    .filter((k) => k.exp !== undefined && k.state !== 'revoked' && k.state !== 'retired')
    .map((k) => ({
      kid: k.kid,
      owner: k.owner,
      use: k.use,
      state: k.state,
      exp: k.exp!,
      daysLeft: Math.floor((Date.parse(k.exp!) - now.getTime()) / DAY_MS),
    }));
}

/** The keys that expire within `warnDays` (or already have): what `keys.expiring` log lines name. */
export function expiringKeys(state: KeyStateFile, now: Date, warnDays: number): KeyExpiry[] {
  return daysUntilExpiry(state, now).filter((k) => k.daysLeft < warnDays);
}

/**
 * Of the keys usable at `now`, the one to use: the newest by `nbf` (a scheduled successor takes over
 * from the key it replaces), the first listed among equals; undefined when none is usable.
 */
export function pickUsable<K extends { kid: string }>(
  state: KeyStateFile,
  owner: 'own' | 'peer',
  keys: readonly K[],
  now: Date,
): K | undefined {
  let best: K | undefined;
  let bestNbf = -Infinity;
  for (const k of keys) {
    const r = recordOf(state, owner, k.kid);
    if (!usableAt(r, now)) continue;
    const nbf = r?.nbf === undefined ? -Infinity : Date.parse(r.nbf);
    if (best === undefined || nbf > bestNbf) {
      best = k;
      bestNbf = nbf;
    }
  }
  return best;
}
