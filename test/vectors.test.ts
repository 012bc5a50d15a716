/**
 * Outside references for the JOSE layer (DESIGN §7): the RFC 7520 cookbook and Wycheproof's JSON Web
 * Crypto vectors, read in place from ../shared/vectors (never copied here), driven through the same
 * layers real traffic goes through — decryptJwe / verifyJws, with the allow-list and header checks of
 * open() — with the vectors' own keys. Keys from Wycheproof are loaded through Accord's JWK Set
 * schemas, as a key file would be. Each suite prints its counts.
 *
 * Expectations are computed from each vector (its `result`, its header's algorithms against the
 * profile), never from what the code returns.
 */
import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import jose from 'node-jose';
import { checkConfigFile } from '../src/config.js';
import { parsePrivateJwks, parsePublicJwks } from '../src/crypto/jwk.js';
import { importKeys, pinnedLookup, type KeyLookup } from '../src/crypto/keyring.js';
import { decryptJwe, verifyJws } from '../src/crypto/open.js';
import { FULL_PROFILE, type CryptoProfile } from '../src/crypto/profile.js';
import { AccordError } from '../src/errors.js';
import { ROOT } from './helpers/harness.js';

const VECTORS = join(ROOT, '..', 'shared', 'vectors');
const COOKBOOK = join(VECTORS, 'jose-cookbook');
const WYCHEPROOF = join(VECTORS, 'wycheproof', 'testvectors_v1');
const WYCHEPROOF_FILES = [
  'json_web_signature_test.json',
  'json_web_encryption_test.json',
  'json_web_key_test.json',
  'json_web_crypto_test.json',
];

type Json = Record<string, any>;
type Outcome = { accepted: true; bytes: Buffer } | { accepted: false; code: string; error: AccordError };

/** Private members of the vectors' keys: no refusal may carry one. */
const secrets = new Set<string>();
const refusals: AccordError[] = [];

function say(line: string): void {
  console.log(`      ${line}`);
}

function readJson(file: string): Json {
  return JSON.parse(readFileSync(file, 'utf8')) as Json;
}

function rememberSecrets(key: unknown): void {
  if (key === null || typeof key !== 'object') return;
  if (Array.isArray(key)) return key.forEach(rememberSecrets);
  const k = key as Json;
  if (Array.isArray(k.keys)) return rememberSecrets(k.keys);
  for (const m of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) {
    if (typeof k[m] === 'string' && k[m].length >= 16) secrets.add(k[m]);
  }
}

/** Run a layer; a refusal must be an AccordError (every failure has a stable code). */
async function outcome(run: () => Promise<{ plaintext: Buffer } | { payload: Buffer }>): Promise<Outcome> {
  try {
    const r = await run();
    return { accepted: true, bytes: 'plaintext' in r ? r.plaintext : r.payload };
  } catch (err) {
    if (!(err instanceof AccordError)) throw err;
    refusals.push(err);
    return { accepted: false, code: err.code, error: err };
  }
}

/** The decoded protected header of a compact string, or undefined when it has none. */
function headerOf(compact: string): Json | undefined {
  try {
    const h = JSON.parse(Buffer.from(compact.split('.')[0] ?? '', 'base64url').toString('utf8')) as unknown;
    return h !== null && typeof h === 'object' && !Array.isArray(h) ? h : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a header's algorithms are all on the profile's allow-list (what the vector must meet). */
function onAllowList(header: Json | undefined, kind: 'jws' | 'jwe', profile: CryptoProfile): boolean {
  if (!header) return false;
  if (kind === 'jws') return profile.signatureAlgs.includes(header.alg);
  return profile.keyEncryptionAlgs.includes(header.alg) && profile.contentEncryptionAlgs.includes(header.enc);
}

function describeProfile(p: CryptoProfile): string {
  return `${p.signatureAlgs.join(', ')} | ${p.keyEncryptionAlgs.join(', ')} | ${p.contentEncryptionAlgs.join(', ')}`;
}

function tally(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function formatTally(map: Map<string, number>): string {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
}

/** A lookup that must never be reached. */
const noKey: KeyLookup = () => {
  throw new Error('a key was looked up for input the form checks should have refused');
};

/** A lookup over one key handed out of band, as the vectors intend (the header may omit `kid`). */
async function lookupOf(jwk: Json | undefined, alg: string): Promise<KeyLookup> {
  if (jwk === undefined) return noKey;
  // The cookbook gives the algorithm beside the key; Accord uses a key only with its own `alg`.
  const key = await jose.JWK.asKey({ ...jwk, alg: jwk.alg ?? alg });
  return pinnedLookup([key], 'vector', { requireKid: false });
}

// ---------------------------------------------------------------------------------------------------
// RFC 7520

interface CookbookCase {
  name: string;
  kind: 'jws' | 'jwe' | 'nested';
  /** The compact serialization; undefined when the example exists only in JSON serialization. */
  compact: string | undefined;
  json: unknown;
  key: Json | undefined;
  alg: string;
  enc?: string;
  /** The nested example's inner signing key and algorithm. */
  inner?: { key: Json; alg: string };
  /** What a successful open yields. */
  expected: string;
}

function cookbookCases(): CookbookCase[] {
  const cases: CookbookCase[] = [];
  for (const dir of ['jws', 'jwe'] as const) {
    for (const file of readdirSync(join(COOKBOOK, dir))
      .filter((f) => f.endsWith('.json'))
      .sort()) {
      const v = readJson(join(COOKBOOK, dir, file));
      const input = v.input as Json;
      const out = (v.output ?? {}) as Json;
      cases.push({
        name: `${dir}/${file}`,
        kind: dir,
        compact: typeof out.compact === 'string' ? out.compact : undefined,
        json: out.json,
        key: Array.isArray(input.key) ? undefined : (input.key as Json | undefined),
        alg: String(input.alg),
        ...(input.enc === undefined ? {} : { enc: String(input.enc) }),
        expected: String(dir === 'jws' ? input.payload : input.plaintext),
      });
    }
  }
  const nested = readJson(join(COOKBOOK, '6.nesting_signatures_and_encryption.json'));
  const sign = nested.sign as Json;
  const encrypt = nested.encrypt as Json;
  // The nested example is two examples: its signature alone, and the sign-then-encrypt message.
  cases.push({
    name: '6.nesting (the signature)',
    kind: 'jws',
    compact: sign.output.compact,
    json: undefined,
    key: sign.input.key,
    alg: sign.input.alg,
    expected: sign.input.payload,
  });
  cases.push({
    name: '6.nesting (signed, then encrypted)',
    kind: 'nested',
    compact: encrypt.output.compact,
    json: encrypt.output.json,
    key: encrypt.input.key,
    alg: encrypt.input.alg,
    enc: encrypt.input.enc,
    inner: { key: sign.input.key, alg: sign.input.alg },
    expected: sign.input.payload,
  });
  return cases;
}

async function openCookbook(c: CookbookCase, profile: CryptoProfile, input: string): Promise<Outcome> {
  const lookup = await lookupOf(c.key, c.alg);
  if (c.kind === 'jws') return outcome(() => verifyJws(input, lookup, profile));
  if (c.kind === 'jwe') return outcome(() => decryptJwe(input, lookup, profile));
  const innerLookup = await lookupOf(c.inner?.key, c.inner?.alg ?? '');
  return outcome(async () => {
    const { plaintext } = await decryptJwe(input, lookup, profile);
    return verifyJws(plaintext, innerLookup, profile);
  });
}

/** The cookbook's algorithms: a profile under which every example's algorithms are allowed. */
function cookbookProfile(cases: CookbookCase[]): CryptoProfile {
  const sig = new Set<string>();
  const kek = new Set<string>();
  const cek = new Set<string>();
  for (const c of cases) {
    if (c.kind === 'jws') sig.add(c.alg);
    else {
      kek.add(c.alg);
      if (c.enc) cek.add(c.enc);
      if (c.inner) sig.add(c.inner.alg);
    }
  }
  return {
    signatureAlgs: [...sig],
    keyEncryptionAlgs: [...kek],
    contentEncryptionAlgs: [...cek],
    maxMessageBytes: 1024 * 1024,
  };
}

/** Header members Accord knows; anything else in a header is refused (strict schema). */
const KNOWN_PARAMS = new Set(['alg', 'enc', 'kid', 'typ', 'cty', 'epk']);
const FORBIDDEN = ['zip', 'jku', 'jwk', 'x5u', 'x5c', 'x5t', 'x5t#S256', 'crit', 'p2s', 'p2c'];

// ---------------------------------------------------------------------------------------------------

describe('vectors', function () {
  this.timeout(120_000);
  const present = existsSync(COOKBOOK) && existsSync(WYCHEPROOF);
  const gateway = checkConfigFile(join(ROOT, 'config', 'cz.json'));
  if (!gateway.ok) throw new Error(gateway.issues.join('\n'));
  /** The profile the shipped config runs with, and the widest one a config may name. */
  const profiles: [string, CryptoProfile][] = [
    ['config/cz.json', gateway.config.crypto],
    ['every algorithm a config may allow', FULL_PROFILE],
  ];

  before(function () {
    if (!present) {
      say(`SKIPPED: ${VECTORS} is missing (the vectors live beside the project; CI has them)`);
      this.skip();
    }
  });

  describe('RFC 7520 (JOSE cookbook)', () => {
    for (const [label, profile] of profiles) {
      it(`opens every example on the allow-list and refuses the others with crypto.alg_not_allowed (${label})`, async () => {
        const cases = cookbookCases();
        for (const c of cases) rememberSecrets([c.key, c.inner?.key]);
        const problems: string[] = [];
        let opened = 0;
        let refusedAlg = 0;
        let json = 0;
        for (const c of cases) {
          if (c.compact === undefined) {
            // Compact serialization only: a JSON-serialized example is refused for its form.
            const o = await openCookbook(c, profile, JSON.stringify(c.json));
            if (o.accepted || o.code !== 'crypto.malformed')
              problems.push(`${c.name}: JSON form not refused as malformed`);
            else json++;
            continue;
          }
          const algs =
            c.kind === 'nested'
              ? onAllowList(headerOf(c.compact), 'jwe', profile) &&
                profile.signatureAlgs.includes(c.inner!.alg)
              : onAllowList(headerOf(c.compact), c.kind, profile);
          const o = await openCookbook(c, profile, c.compact);
          if (algs) {
            if (!o.accepted) problems.push(`${c.name}: on the allow-list but refused with ${o.code}`);
            else if (o.bytes.toString('utf8') !== c.expected) problems.push(`${c.name}: wrong content`);
            else opened++;
          } else if (o.accepted || o.code !== 'crypto.alg_not_allowed') {
            problems.push(`${c.name}: off the allow-list but ${o.accepted ? 'opened' : o.code}`);
          } else refusedAlg++;
        }
        say(
          `RFC 7520 [${describeProfile(profile)}]: ${cases.length} examples — ${opened} opened (on the allow-list), ` +
            `${refusedAlg} refused crypto.alg_not_allowed, ${json} refused as JSON serialization (compact only)`,
        );
        expect(problems).to.deep.equal([]);
        expect(opened + refusedAlg + json).to.equal(cases.length);
        if (profile.signatureAlgs.includes('PS256'))
          expect(opened, 'the nested example’s PS256 signature').to.be.at.least(1);
      });
    }

    it('with the cookbook’s own algorithms allowed, opens every compact example the Accord header rules admit (control)', async () => {
      // Control: the refusals above come from the allow-list, not from a layer that cannot open these.
      const cases = cookbookCases().filter((c) => c.compact !== undefined);
      const wide = cookbookProfile(cases);
      const problems: string[] = [];
      const counts = new Map<string, number>();
      for (const c of cases) {
        const header = headerOf(c.compact!) ?? {};
        const forbidden = FORBIDDEN.some((p) => p in header);
        const unknown = Object.keys(header).some((p) => !KNOWN_PARAMS.has(p));
        const detached = c.kind === 'jws' && c.compact!.split('.')[1] === '' && c.expected !== '';
        // The cookbook's direct-encryption key names its content algorithm; Accord uses a key only
        // with the `alg` it names.
        const keyAlgDiffers = typeof c.key?.alg === 'string' && c.key.alg !== header.alg;
        const expected =
          forbidden || unknown
            ? 'crypto.header_invalid'
            : keyAlgDiffers
              ? 'crypto.alg_not_allowed'
              : header.alg === 'RSA1_5'
                ? // Node ≥ 20.11 refuses RSA PKCS#1 v1.5 decryption (the Marvin attack, CVE-2023-46809).
                  'crypto.decrypt_failed'
                : detached
                  ? 'crypto.bad_signature'
                  : 'opened';
        const o = await openCookbook(c, wide, c.compact!);
        const got = o.accepted
          ? o.bytes.toString('utf8') === c.expected
            ? 'opened'
            : 'wrong content'
          : o.code;
        tally(counts, got);
        if (got !== expected) problems.push(`${c.name}: expected ${expected}, got ${got}`);
      }
      say(
        `RFC 7520 control [${describeProfile(wide)}]: ${cases.length} compact examples — ${formatTally(counts)}`,
      );
      expect(problems).to.deep.equal([]);
      expect(counts.get('opened')).to.be.at.least(8);
    });
  });

  describe('Wycheproof JSON Web Crypto', () => {
    for (const file of WYCHEPROOF_FILES) {
      for (const [label, profile] of profiles) {
        it(`${file}: rejects every invalid vector, accepts every valid one on the allow-list (${label})`, async () => {
          const data = readJson(join(WYCHEPROOF, file));
          const problems: string[] = [];
          const counts = {
            invalidRejected: 0,
            invalid: 0,
            validAccepted: 0,
            validOnList: 0,
            validOffListRejected: 0,
            validOffList: 0,
            acceptable: [] as string[],
            json: 0,
          };
          const codes = new Map<string, number>();
          let total = 0;
          for (const group of data.testGroups as Json[]) {
            rememberSecrets(group.private);
            for (const t of group.tests as Json[]) {
              total++;
              const kind: 'jws' | 'jwe' = 'jws' in t ? 'jws' : 'jwe';
              const raw: unknown = t[kind];
              const isJson = typeof raw !== 'string' || raw.trimStart().startsWith('{');
              const input = typeof raw === 'string' ? raw : JSON.stringify(raw);
              // A JSON-serialized vector must be refused for its form, before any key is looked up.
              const o = isJson
                ? await outcome(() =>
                    kind === 'jws' ? verifyJws(input, noKey, profile) : decryptJwe(input, noKey, profile),
                  )
                : await wycheproofOutcome(group, kind, input, profile);
              if (!o.accepted) tally(codes, o.code);
              const id = `${file} #${t.tcId} (${t.comment})`;
              if (isJson) {
                // Compact only: a JSON-serialized JWS/JWE is refused for its form.
                if (o.accepted || o.code !== 'crypto.malformed')
                  problems.push(`${id}: JSON form not refused as malformed`);
                else counts.json++;
              }
              const listed = !isJson && onAllowList(headerOf(input), kind, profile);
              if (t.result === 'invalid') {
                counts.invalid++;
                if (o.accepted) problems.push(`${id}: invalid, but accepted`);
                else counts.invalidRejected++;
              } else if (t.result === 'valid' && listed) {
                counts.validOnList++;
                if (!o.accepted)
                  problems.push(`${id}: valid and on the allow-list, but refused with ${o.code}`);
                else if (kind === 'jwe' && typeof t.pt === 'string' && o.bytes.toString('hex') !== t.pt)
                  problems.push(`${id}: decrypted to other bytes`);
                else counts.validAccepted++;
              } else if (t.result === 'valid') {
                counts.validOffList++;
                // Off the allow-list: refused, whatever Wycheproof thinks of the cryptography.
                if (o.accepted) problems.push(`${id}: valid but off the allow-list, and accepted`);
                else counts.validOffListRejected++;
              } else {
                counts.acceptable.push(`#${t.tcId} ${o.accepted ? 'accepted' : `refused (${o.code})`}`);
              }
            }
          }
          say(
            `Wycheproof ${file} [${describeProfile(profile)}]: ${total} vectors — ` +
              `invalid ${counts.invalidRejected}/${counts.invalid} rejected; ` +
              `valid on the allow-list ${counts.validAccepted}/${counts.validOnList} accepted; ` +
              `valid off the allow-list ${counts.validOffListRejected}/${counts.validOffList} rejected; ` +
              `acceptable ${counts.acceptable.length}${counts.acceptable.length ? ` (${counts.acceptable.join(', ')})` : ''}; ` +
              `JSON serialization ${counts.json} rejected (compact only)`,
          );
          say(`  refusal codes: ${formatTally(codes)}`);
          expect(problems).to.deep.equal([]);
          expect(
            counts.invalid + counts.validOnList + counts.validOffList + counts.acceptable.length,
          ).to.equal(total);
        });
      }
    }
  });

  describe('refusals carry no key material', () => {
    it('no refusal above puts a private member of a vector key into its message or JSON', function () {
      if (refusals.length === 0) this.skip();
      expect(secrets.size).to.be.greaterThan(10);
      for (const err of refusals) {
        const text = `${err.message} ${JSON.stringify(err.toJSON())}`;
        for (const s of secrets) expect(text.includes(s), `${err.code} carries key material`).to.equal(false);
      }
    });
  });
});

/**
 * One Wycheproof vector through Accord's path: the group's keys loaded as a JWK Set file would be
 * (public set to verify, private set to decrypt; a set the schemas refuse refuses every vector with
 * keys.invalid), then the layer with a lookup over those keys.
 */
async function wycheproofOutcome(
  group: Json,
  kind: 'jws' | 'jwe',
  input: string,
  profile: CryptoProfile,
): Promise<Outcome> {
  const setOf = (k: Json | undefined) =>
    k === undefined ? undefined : Array.isArray(k.keys) ? k : { keys: [k] };
  let lookup: KeyLookup;
  try {
    const use = kind === 'jws' ? 'sig' : 'enc';
    const keys =
      kind === 'jws' && group.public !== undefined
        ? parsePublicJwks(setOf(group.public), 'vector public set').keys
        : parsePrivateJwks(setOf(group.private), 'vector private set').keys;
    lookup = pinnedLookup(await importKeys(keys.filter((k) => k.use === use)), 'vector', {
      requireKid: false,
    });
  } catch (err) {
    if (!(err instanceof AccordError)) throw err;
    // A gateway never holds a key its schemas refuse: the message meets the header checks and, if it
    // passes them, finds no key (the refusal is then this keys.invalid).
    lookup = () => {
      throw err;
    };
  }
  return kind === 'jws'
    ? outcome(() => verifyJws(input, lookup, profile))
    : outcome(() => decryptJwe(input, lookup, profile));
}
