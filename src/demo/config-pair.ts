/**
 * The one builder of a namespaced CZ/KZ config pair: the shipped `config/cz.json` and `config/kz.json`,
 * moved into namespaces `<stem>-cz` and `<stem>-kz` that name each other as peer, so that two gateways
 * run side by side on one broker and one Redis. The demo, the tests, the bench and the fault suite
 * start from it; each adjusts the raw JSON (URLs, delivery, records), then checks it here or writes it
 * to a file for `accord start`.
 */
import { chmodSync, copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkConfigData, type Config } from '../config.js';
import { AccordError } from '../errors.js';

/** The repository (or installed package) root: where `config/`, `certs-example/` and `examples/` are. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** The shipped configs' folder, against which their relative paths resolve. */
const CONFIG_DIR = join(ROOT, 'config');

/**
 * The identifier key of the demo and the tests: public, so test-only — refused with
 * NODE_ENV=production (src/config-production.ts). The shipped configs have no default for
 * `policy.identifierKey` (they read ACCORD_IDENTIFIER_KEY); the pairs built here fall back to this.
 */
export const TEST_ONLY_IDENTIFIER_KEY = 'test-only-identifier-key-not-for-production-use';

/** A party of the pair, as the shipped config files are named. */
export type PartyTag = 'cz' | 'kz';

/** Both parties, CZ first. */
export const PARTY_TAGS: readonly PartyTag[] = ['cz', 'kz'];

/** A shipped config as raw JSON, before it is checked; the fields the builder sets are typed. */
export type RawConfig = Record<string, unknown> & {
  namespace: string;
  keys: Record<string, unknown> & { privateJwks: string };
  peer: Record<string, unknown> & { namespace: string; amqpUrl: string; publicJwks: string };
  policy?: Record<string, unknown>;
  records?: Record<string, unknown>;
  admin?: Record<string, unknown>;
};

/** How {@link configPair} provides the private keys. */
export interface ConfigPairOptions {
  /**
   * Copy each party's private key into `<keysDir>/keys-<party>/` (owner-only) and point the config at
   * the copy. @defaultValue undefined: the checked-out key, made owner-only in place
   */
  keysDir?: string;
}

/**
 * Both parties' shipped configs in namespaces `<stem>-cz` / `<stem>-kz`, key paths absolute (so a
 * config means the same wherever it is written), the private keys owner-only (git checks the
 * test-only keys out 0644, and the gateway refuses a key others can read), and the identifier key
 * ACCORD_IDENTIFIER_KEY or else {@link TEST_ONLY_IDENTIFIER_KEY}.
 */
export function configPair(stem: string, opts: ConfigPairOptions = {}): Record<PartyTag, RawConfig> {
  return { cz: partyConfig('cz', stem, opts), kz: partyConfig('kz', stem, opts) };
}

function partyConfig(party: PartyTag, stem: string, opts: ConfigPairOptions): RawConfig {
  const peer: PartyTag = party === 'cz' ? 'kz' : 'cz';
  const raw = JSON.parse(readFileSync(join(CONFIG_DIR, `${party}.json`), 'utf8')) as RawConfig;
  raw.namespace = `${stem}-${party}`;
  raw.peer.namespace = `${stem}-${peer}`;
  let privateJwks = resolve(CONFIG_DIR, raw.keys.privateJwks);
  if (opts.keysDir !== undefined) {
    const dir = join(opts.keysDir, `keys-${party}`);
    mkdirSync(dir, { recursive: true });
    copyFileSync(privateJwks, join(dir, 'private.jwks.json'));
    privateJwks = join(dir, 'private.jwks.json');
  }
  chmodSync(privateJwks, 0o600);
  raw.keys.privateJwks = privateJwks;
  raw.peer.publicJwks = resolve(CONFIG_DIR, raw.peer.publicJwks);
  // The demo's and the tests' fallback; ACCORD_IDENTIFIER_KEY still wins when it is set.
  raw.policy = { ...raw.policy, identifierKey: `\${ACCORD_IDENTIFIER_KEY:-${TEST_ONLY_IDENTIFIER_KEY}}` };
  return raw;
}

/** Check both configs of a pair; `config.invalid` lists every `path: message`. */
export function checkedPair(raw: Record<PartyTag, RawConfig>): Record<PartyTag, Config> {
  const checked = (r: RawConfig): Config => {
    const check = checkConfigData(r, CONFIG_DIR);
    if (!check.ok) throw new AccordError('config.invalid', check.issues.join('\n'));
    return check.config;
  };
  return { cz: checked(raw.cz), kz: checked(raw.kz) };
}
