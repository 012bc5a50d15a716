/**
 * The key history: the public half of every own signing key this
 * gateway ever used, so audit checkpoints (Art. 10(6)) signed before a rotation still verify after the
 * key left the private set (rotations prune it, lifecycle.ts). It holds no secret and is never pruned;
 * like the pinned peer set it decides what is trusted, so it is written owner-only and refused when
 * group or others may change it. One file beside `key-state.json`: backed up and restored with it.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { AccordError } from '../errors.js';
import { writeFileAtomic } from './atomic-file.js';
import { parseKeyJson, PublicJwk, readKeyFile } from './jwk.js';
import { thumbprint } from './keygen.js';
import { checkOwnerWritable } from './keystore.js';

/** At most this many keys (a rotation a day for decades). */
const MAX_HISTORY_KEYS = 20_000;
/** A history file larger than this is refused before it is read. */
const MAX_HISTORY_BYTES = 16 * 1024 * 1024;

/** One key of the history: its public JWK, its RFC 7638 thumbprint, and when it was first recorded. */
const HistoryEntry = z.strictObject({
  key: PublicJwk,
  thumbprint: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  since: z.iso.datetime({ offset: true }),
});
export type HistoryEntry = z.infer<typeof HistoryEntry>;

const KeyHistoryFile = z.strictObject({ keys: z.array(HistoryEntry).max(MAX_HISTORY_KEYS) });

/** Where the key history of a state file lives: `key-history.json` beside it. */
export function keyHistoryPath(statePath: string): string {
  return join(dirname(statePath), 'key-history.json');
}

/** The recorded keys; none when the file does not exist yet. Every failure is `keys.invalid`. */
export function readKeyHistory(file: string): HistoryEntry[] {
  if (!existsSync(file)) return [];
  checkOwnerWritable(file);
  const parsed = KeyHistoryFile.safeParse(parseKeyJson(readKeyFile(file, MAX_HISTORY_BYTES), file));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AccordError(
      'keys.invalid',
      `${file}: not a valid key history at ${(issue?.path ?? []).join('.') || '(root)'}: ${issue?.message}`,
    );
  }
  for (const e of parsed.data.keys) {
    if (thumbprint(e.key) !== e.thumbprint) {
      throw new AccordError(
        'keys.invalid',
        `${file}: the thumbprint of ${e.key.kid} does not match its key`,
        {
          kid: e.key.kid,
        },
      );
    }
  }
  return parsed.data.keys;
}

/**
 * Add the signing keys among `keys` that the history does not hold yet (by thumbprint); writes only
 * when one is new. Returns how many were added.
 */
export function recordSigningKeys(file: string, keys: readonly PublicJwk[], now: Date): number {
  const history = readKeyHistory(file);
  const known = new Set(history.map((e) => e.thumbprint));
  const added: HistoryEntry[] = [];
  for (const k of keys) {
    if (k.use !== 'sig') continue;
    const key = PublicJwk.parse(k);
    const tp = thumbprint(key);
    if (known.has(tp)) continue;
    known.add(tp);
    added.push({ key, thumbprint: tp, since: now.toISOString() });
  }
  if (added.length === 0) return 0;
  const next = KeyHistoryFile.parse({ keys: [...history, ...added] });
  writeFileAtomic(file, `${JSON.stringify(next, null, 2)}\n`, 0o600);
  return added.length;
}
