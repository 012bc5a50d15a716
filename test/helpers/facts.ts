/**
 * Facts for unit tests of the pure decisions: the shipped config of a party (optionally changed), its
 * directory, a fixed clock, and whatever records a test says were looked up. No broker, no Redis.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkConfigData, type Config } from '../../src/config.js';
import { TEST_ONLY_IDENTIFIER_KEY } from '../../src/demo/config-pair.js';
import type { Facts } from '../../src/kinds/spec.js';
import { T0 } from './envelopes.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** The shipped config of `party` (config/<party>.json), with `tweak` applied to the raw JSON first. */
export function configOf(
  party: 'cz' | 'kz',
  tweak: (raw: Record<string, any>) => void = () => undefined,
): Config {
  const raw = JSON.parse(readFileSync(join(ROOT, 'config', `${party}.json`), 'utf8')) as Record<string, any>;
  tweak(raw);
  const check = checkConfigData(raw, join(ROOT, 'config'), {
    ACCORD_IDENTIFIER_KEY: TEST_ONLY_IDENTIFIER_KEY,
  });
  if (!check.ok) throw new Error(check.issues.join('\n'));
  return check.config;
}

/** Facts on `config` at {@link T0}, nothing looked up unless `over` says so. */
export function factsOf(config: Config, over: Partial<Facts> = {}): Facts {
  return {
    config,
    ownAuthorities: new Set(config.authorities.map((a) => a.id)),
    peerAuthorities: new Set(config.peer.authorities.map((a) => a.id)),
    now: T0,
    provided: new Map(),
    received: new Map(),
    seen: new Map(),
    sent: new Map(),
    suspensions: [],
    suspension: undefined,
    termination: null,
    review: undefined,
    met: new Set(),
    gate: { consents: new Map(), origins: new Map() },
    ...over,
  };
}

/** An example submission (examples/messages), as raw JSON to edit, with the config of its party. */
export function example(kind: string, edit: (s: Record<string, any>) => void = () => undefined) {
  const raw = JSON.parse(readFileSync(join(ROOT, 'examples', 'messages', `${kind}.json`), 'utf8')) as Record<
    string,
    any
  >;
  edit(raw);
  const config = configOf(String(raw.from).startsWith('kz-') ? 'kz' : 'cz', (c) => {
    c.treaty = { notifyingAuthorities: ['cz-pp-ipc', 'kz-mia'] };
  });
  return { raw, config };
}
