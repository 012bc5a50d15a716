/**
 * Key trust (security review, findings 1–6): what a peer's in-band key messages may change, what one
 * command may revoke, how the key files grow and how they are kept. Each attack or fault is reproduced
 * against two real gateways (or the real key files), then shown refused.
 */
import { expect } from 'chai';
import { chmodSync, existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { names, type Config } from '../src/config.js';
import { readPrivateJwks, readPublicJwks, type PublicJwk } from '../src/crypto/jwk.js';
import { KeyRing } from '../src/crypto/keyring.js';
import { seal } from '../src/crypto/seal.js';
import { generatePartyKeys, publicHalf, thumbprint as thumbprintOf } from '../src/crypto/keygen.js';
import { thumbprints } from '../src/crypto/trust.js';
import { Gateway } from '../src/gateway.js';
import {
  activateKey,
  approveKey,
  importPeer,
  listKeys,
  notifyGateways,
  pinAnnouncedKeys,
  revokeKey,
  rotateKey,
} from '../src/keys/operations.js';
import { WHAT_STOPS, heirsOf, readKeyState, recordOf } from '../src/crypto/lifecycle.js';
import { OncePerInterval } from '../src/consumers.js';
import { AccordError, dispositionOfFailure, exitCodeOf } from '../src/errors.js';
import { loadKeyRing, rememberSigningKeys, statePathOf } from '../src/keys/watch.js';
import { keyHistoryPath, readKeyHistory } from '../src/crypto/key-history.js';
import { checkpointSigner } from '../src/audit/checkpoint.js';
import { AuditLog, auditFileOf } from '../src/audit/log.js';
import type { SubmissionInput } from '../src/client/index.js';
import {
  ROOT,
  configFileFor,
  drainQueue,
  eventually,
  example,
  memoryLogger,
  pairConfigs,
  publishRaw,
  runCli,
  sealAsCz,
  ownKeyCopies,
  startPair,
  testEnvelope,
  uniqueStem,
  waitForDeadLetter,
  type Pair,
} from './helpers/harness.js';
import { tempDir } from './helpers/temp.js';

type Json = Record<string, any>;

/** A gateway-to-gateway envelope from CZ to KZ (key announcements and revocations have no authority data). */
function keyMessage(kind: 'key-announcement' | 'key-revocation', body: Json): Json {
  return testEnvelope({
    kind,
    priority: 'urgent',
    handling: { purposes: [], conditions: [], sensitive: [] },
    body,
  });
}

describe('key trust: peer messages touch only peer keys', function () {
  this.timeout(120_000);
  let pair: Pair;

  before(async () => {
    pair = await startPair(ownKeyCopies());
  });
  after(async () => {
    await pair?.close();
  });

  it('refuses an announced key whose kid is one of our own (keys.kid_collision), and a revocation of our own kid never touches our key', async () => {
    const kz = pair.kzConfig;
    const ownSig = readPrivateJwks(kz.keys.privateJwks).keys.find((k) => k.use === 'sig')!;
    // CZ (or whoever holds CZ's signing key) announces a key that carries KZ's own signing kid.
    const impostor = { ...publicHalf(readPrivateJwks(pair.czConfig.keys.privateJwks).keys[0]!) };
    impostor.kid = ownSig.kid;
    const announce = keyMessage('key-announcement', {
      keys: [impostor],
      thumbprints: thumbprints({ keys: [impostor] }).map((t) => t.thumbprint),
    });
    await publishRaw(names(kz.namespace).ingress, await sealAsCz(pair.czConfig, announce));
    const letter = await waitForDeadLetter(
      names(kz.namespace).dlq,
      (l) => l.messageId === announce.id,
      [],
      30_000,
    );
    expect(letter.code).to.equal('keys.kid_collision');
    expect(readPublicJwks(kz.peer.publicJwks).keys.map((k) => k.kid)).not.to.include(ownSig.kid);

    // Then the revocation of that kid: refused, and KZ's own signing key stays as it was.
    const revoke = keyMessage('key-revocation', {
      kid: ownSig.kid,
      use: 'sig',
      reason: 'drill',
      revokedAt: new Date().toISOString(),
    });
    await publishRaw(names(kz.namespace).ingress, await sealAsCz(pair.czConfig, revoke));
    const refused = await waitForDeadLetter(
      names(kz.namespace).dlq,
      (l) => l.messageId === revoke.id,
      [],
      30_000,
    );
    expect(refused.code).to.equal('keys.unknown_kid');
    expect(recordOf(readKeyState(statePathOf(kz)), 'own', ownSig.kid)?.state).not.to.equal('revoked');
    expect((await loadKeyRing(kz, () => new Date())).unusable()).to.equal(undefined);
  });
});

describe('key trust: accord keys revoke names the side', function () {
  this.timeout(60_000);

  it('asks for --own or --peer when a kid is both an own and a pinned key, and says which side it revoked', async () => {
    const raw = JSON.parse(readFileSync(join(ROOT, 'config', 'kz.json'), 'utf8')) as Json;
    ownKeyCopies()(raw);
    raw.namespace = `rv-${Date.now()}`;
    // A pinned set from before the collision check: a peer key carries KZ's own signing kid.
    const ownSig = readPrivateJwks(raw.keys.privateJwks as string).keys.find((k) => k.use === 'sig')!;
    const pinned = readPublicJwks(raw.peer.publicJwks as string);
    const peerSig = pinned.keys.find((k) => k.use === 'sig')!;
    writeFileSync(
      raw.peer.publicJwks as string,
      JSON.stringify({ keys: pinned.keys.map((k) => (k === peerSig ? { ...k, kid: ownSig.kid } : k)) }),
      { mode: 0o600 },
    );
    const configFile = join(tempDir('rv'), 'kz.json');
    writeFileSync(configFile, JSON.stringify(raw));
    const config = (await import('../src/config.js')).loadConfig(configFile);

    const ambiguous = await runCli(['keys', 'revoke', ownSig.kid, '--config', configFile, '--reason', 'x']);
    expect(ambiguous.code).to.equal(1);
    expect(ambiguous.stderr).to.match(/^keys\.kid_ambiguous: .*--own or --peer/);
    expect(readKeyState(statePathOf(config)).keys).to.deep.equal([]);

    const peer = await runCli([
      'keys',
      'revoke',
      ownSig.kid,
      '--peer',
      '--force',
      '--config',
      configFile,
      '--reason',
      'drill',
    ]);
    // Redis may tell no gateway: the revocation is written first either way.
    expect(peer.stdout, peer.stderr).to.include(`revoked peer key ${ownSig.kid}`);
    expect(recordOf(readKeyState(statePathOf(config)), 'peer', ownSig.kid)?.state).to.equal('revoked');
    expect(recordOf(readKeyState(statePathOf(config)), 'own', ownSig.kid)).to.equal(undefined);
  });
});

describe('key trust: the last usable key', function () {
  this.timeout(120_000);
  const TOKEN = 'test-only-admin-token-keytrust-0123456789';
  let pair: Pair;
  let base: string;

  before(async () => {
    process.env.ACCORD_TEST_ADMIN_TOKEN = TOKEN;
    const copies = ownKeyCopies();
    pair = await startPair((raw) => {
      copies(raw);
      if (raw.party === 'KZ') raw.admin = { port: 0, tokenEnv: 'ACCORD_TEST_ADMIN_TOKEN' };
    });
    const address = pair.kz.adminAddress!;
    base = `http://${address.address}:${address.port}`;
  });
  after(async () => {
    await pair?.close();
  });

  const get = (path: string) => fetch(`${base}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });

  it('refuses to revoke the only signing key without --force, and says what would stop working', async () => {
    const kzSig = readPrivateJwks(pair.kzConfig.keys.privateJwks).keys.find((k) => k.use === 'sig')!;
    const r = await runCli([
      'keys',
      'revoke',
      kzSig.kid,
      '--own',
      '--config',
      configFileFor(pair.kzConfig),
      '--reason',
      'drill',
    ]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/^keys\.last_usable_key: /);
    expect(r.stderr).to.match(/nothing can be signed/);
    expect(r.stderr).to.include('--force');
    expect(recordOf(readKeyState(statePathOf(pair.kzConfig)), 'own', kzSig.kid)?.state).not.to.equal(
      'revoked',
    );
  });

  it('with --force: crypto.key_revoked named once per interval, by /readyz, the dashboard and an alert', async () => {
    const kzSig = readPrivateJwks(pair.kzConfig.keys.privateJwks).keys.find((k) => k.use === 'sig')!;
    const reloadsBefore = pair.lines.filter((l) => l.includes('"gw":"KZ"') && l.includes('reloaded')).length;
    const r = await runCli([
      'keys',
      'revoke',
      kzSig.kid,
      '--own',
      '--force',
      '--config',
      configFileFor(pair.kzConfig),
      '--reason',
      'drill',
    ]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/nothing can be signed/);
    await eventually(
      () =>
        Promise.resolve(
          pair.lines.filter((l) => l.includes('"gw":"KZ"') && l.includes('reloaded')).length > reloadsBefore
            ? true
            : undefined,
        ),
      20_000,
      'KZ reloads its keys',
    );
    // Messages keep coming from KZ's case system and from CZ: none can be signed or acknowledged.
    const kzMia = await pair.authority(pair.kzConfig, 'kz-mia');
    const czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
    const from = pair.lines.length;
    for (let i = 0; i < 10; i++) {
      const doc = example('travel-document', `f6-kz-${i}`);
      doc.from = 'kz-mia';
      doc.to = { party: 'CZ', authority: 'cz-pp-ipc' };
      await kzMia.client.submit(doc as SubmissionInput);
      await czIpc.client.submit(example('travel-document', `f6-cz-${i}`) as SubmissionInput);
    }
    await new Promise((resolve) => setTimeout(resolve, 12_000));
    const kzLines = pair.lines.slice(from).filter((l) => l.includes('"gw":"KZ"'));
    const waiting = kzLines.filter((l) => l.includes('it waits'));
    expect(
      kzLines.filter((l) => l.includes('crypto.key_expired')),
      'lines under the wrong code',
    ).to.deep.equal([]);
    expect(waiting.length, waiting.join('')).to.be.within(1, 2);
    expect(waiting.every((l) => l.includes('"code":"crypto.key_revoked"'))).to.equal(true);

    const ready = await get('/readyz');
    expect(ready.status).to.equal(503);
    const body = (await ready.json()) as { failing: string[]; checks: Record<string, string> };
    expect(body.failing).to.include('keys');
    expect(body.checks.keys).to.match(/^crypto\.key_revoked: /);
    expect(body.checks.keys).to.include(kzSig.kid);
    const summary = (await (await get('/api/summary')).json()) as Json;
    expect(summary.keysUnusable).to.match(/^crypto\.key_revoked: /);
    expect((summary.alerts as { code: string }[]).map((a) => a.code)).to.include('alert.key_unusable');
    expect(
      pair.lines.some((l) => l.includes('"alert":"alert.key_unusable"') && l.includes(kzSig.kid)),
    ).to.equal(true);
  });
});

describe('key trust: no key to seal with (pure)', () => {
  it('a revoked signing or peer encryption set makes the message wait; a revoked key in a message parks it', () => {
    const noSigner = new AccordError('crypto.key_revoked', 'x', { path: 'keys.own.sig', kid: 'a' });
    const noPeerEnc = new AccordError('crypto.key_revoked', 'x', { path: 'keys.peer.enc', kid: 'a' });
    const named = new AccordError('crypto.key_revoked', 'x', { kid: 'a' });
    expect(dispositionOfFailure(noSigner, false)).to.equal('wait-for-key');
    expect(dispositionOfFailure(noPeerEnc, false)).to.equal('wait-for-key');
    expect(dispositionOfFailure(named, false)).to.equal('park');
  });

  it('a condition passes once per interval, counting what it held back', () => {
    let t = 0;
    const once = new OncePerInterval(60_000, () => t);
    expect(once.pass('crypto.key_revoked')).to.equal(0);
    for (let i = 0; i < 999; i++) expect(once.pass('crypto.key_revoked')).to.equal(undefined);
    expect(once.pass('crypto.key_expired')).to.equal(0);
    t = 60_000;
    expect(once.pass('crypto.key_revoked')).to.equal(999);
  });

  it('names what stops for each side and use', () => {
    expect(Object.keys(WHAT_STOPS).sort()).to.deep.equal(['own/enc', 'own/sig', 'peer/enc', 'peer/sig']);
    expect(WHAT_STOPS['own/sig']).to.match(/nothing can be signed/);
  });
});

describe('key trust: the state file and the pinned set at rest', function () {
  this.timeout(60_000);

  /** A KZ config on its own key copies, whose pinned CZ set also holds a second (rotated) CZ signing key. */
  async function kzWithTwoPeerSigningKeys(): Promise<{ config: Config; oldSig: string; newSig: string }> {
    const { kz } = pairConfigs(uniqueStem(), (raw) => {
      ownKeyCopies()(raw);
      // Pinned as the review's set-up pinned it: active at once.
      raw.keys.approveAnnouncedSigningKeys = false;
    });
    const cz = await generatePartyKeys('CZ');
    const pinned = readPublicJwks(kz.peer.publicJwks);
    const oldSig = pinned.keys.find((k) => k.use === 'sig')!.kid;
    const fresh = cz.publicSet.keys.find((k) => k.use === 'sig')!;
    // Pinned as an announcement pins it: the state file records both keys.
    await pinAnnouncedKeys(kz, { keys: [fresh] }, new Date());
    expect(readPublicJwks(kz.peer.publicJwks).keys).to.have.length(3);
    return { config: kz, oldSig, newSig: fresh.kid };
  }

  it('refuses to load keys when key-state.json is missing but a set holds two keys of a use (keys.state_missing)', async () => {
    const { config, oldSig } = await kzWithTwoPeerSigningKeys();
    await revokeKey(config, { kid: oldSig, owner: 'peer' }, 'compromise drill', new Date());
    const ring = await loadKeyRing(config, () => new Date());
    expect(() => ring.verificationKey(oldSig)).to.throw(AccordError, /revoked/);
    // The revocation's only record is lost…
    rmSync(statePathOf(config));
    // …and the revoked key must not come back as active.
    const err = await refusal(() => loadKeyRing(config, () => new Date()));
    expect(err.code).to.equal('keys.state_missing');
    const start = await refusal(() => Gateway.start(config, memoryLogger().log));
    expect(start.code).to.equal('keys.state_missing');
    expect(exitCodeOf('keys.state_missing')).to.equal(2);
  });

  it('writes key-state.json and the pinned set owner-only (600) and refuses them writable by others', async () => {
    const { config, oldSig } = await kzWithTwoPeerSigningKeys();
    await revokeKey(config, { kid: oldSig, owner: 'peer' }, 'drill', new Date());
    expect(statSync(statePathOf(config)).mode & 0o777).to.equal(0o600);
    // A re-bootstrap: CZ's fresh public set, imported against its confirmed thumbprints.
    const czPublic = join(tempDir('import'), 'cz.jwks.json');
    const fresh = (await generatePartyKeys('CZ')).publicSet;
    writeFileSync(czPublic, JSON.stringify(fresh));
    await importPeer(
      config,
      czPublic,
      thumbprints(fresh).map((t) => t.thumbprint),
      new Date(),
    );
    expect(statSync(config.peer.publicJwks).mode & 0o777).to.equal(0o600);
    expect(statSync(statePathOf(config)).mode & 0o777).to.equal(0o600);
    await loadKeyRing(config, () => new Date());

    chmodSync(statePathOf(config), 0o644);
    expect((await refusal(() => loadKeyRing(config, () => new Date()))).message).to.match(/mode 644/);
    chmodSync(statePathOf(config), 0o600);
    chmodSync(config.peer.publicJwks, 0o664);
    expect((await refusal(() => loadKeyRing(config, () => new Date()))).message).to.match(/mode 664/);
    // A pinned set others may read but not change is a public file, as shipped: accepted.
    chmodSync(config.peer.publicJwks, 0o644);
    await loadKeyRing(config, () => new Date());
  });
});

/** The AccordError `fn` throws (sync or async); fails when it does not throw one. */
async function refusal(fn: () => unknown): Promise<AccordError> {
  try {
    await fn();
  } catch (err) {
    expect(err, 'the thrown value').to.be.instanceOf(AccordError);
    return err as AccordError;
  }
  return expect.fail('expected a refusal');
}

describe('key trust: rotations do not overflow the key sets', function () {
  this.timeout(300_000);
  const HOUR = 3_600_000;

  /** A KZ config on its own key copies, with an overlap window of one hour. */
  function kzConfig(): Config {
    return pairConfigs(uniqueStem(), (raw) => {
      ownKeyCopies()(raw);
      raw.keys.overlapHours = 1;
      raw.keys.approveAnnouncedSigningKeys = false;
    }).kz;
  }

  it('rotates 20 times: retired keys are pruned after their window, their thumbprints kept in key-state.json', async () => {
    const config = kzConfig();
    let t = Date.parse('2027-01-01T00:00:00Z');
    const before = readPrivateJwks(config.keys.privateJwks).keys.map((k) => thumbprintOf(k));
    for (let i = 0; i < 20; i++) {
      for (const use of ['sig', 'enc'] as const) {
        const { key } = await rotateKey(config, use, { now: new Date(t) });
        await activateKey(config, key.kid, new Date(t));
      }
      t += 2 * HOUR;
      // Every command still reads the keys, and so does the gateway.
      expect((await listKeys(config)).length).to.be.at.most(2 * 2 + 4);
      await loadKeyRing(config, () => new Date(t));
    }
    const own = readPrivateJwks(config.keys.privateJwks).keys;
    expect(own.length).to.be.at.most(4);
    const state = readKeyState(statePathOf(config));
    const pruned = (state.pruned ?? []).map((p) => p.thumbprint);
    for (const tp of before) expect(pruned).to.include(tp);
    expect(statSync(config.keys.privateJwks).mode & 0o777).to.equal(0o600);
  });

  it('refuses a rotation whose result would not load, and leaves the files as they were', async () => {
    const config = kzConfig();
    const t = new Date('2027-01-01T00:00:00Z');
    // Keys still in their overlap window are not pruned: the set fills up.
    let refused: AccordError | undefined;
    for (let i = 0; i < 40 && refused === undefined; i++) {
      const text = readFileSync(config.keys.privateJwks, 'utf8');
      const state = existsSync(statePathOf(config)) ? readFileSync(statePathOf(config), 'utf8') : '';
      try {
        await rotateKey(config, 'sig', { now: t });
      } catch (err) {
        refused = err as AccordError;
        expect(readFileSync(config.keys.privateJwks, 'utf8')).to.equal(text);
        expect(readFileSync(statePathOf(config), 'utf8')).to.equal(state);
        expect(readdirSync(dirname(config.keys.privateJwks)).filter((f) => f.endsWith('.tmp'))).to.deep.equal(
          [],
        );
      }
      await listKeys(config);
      await loadKeyRing(config, () => t);
    }
    expect(refused?.code).to.equal('keys.invalid');
    expect(refused?.message).to.match(/at most 32/);
  });

  it('a pruned revoked peer key can never come back (announced or imported)', async () => {
    const config = kzConfig();
    let t = Date.parse('2027-01-01T00:00:00Z');
    const original = readPublicJwks(config.peer.publicJwks);
    const oldSig = original.keys.find((k) => k.use === 'sig')!;
    // CZ announces a new signing key; the one it replaces is then revoked (compromised)…
    await pinAnnouncedKeys(
      config,
      { keys: [(await generatePartyKeys('CZ')).publicSet.keys[0]!] },
      new Date(t),
    );
    await revokeKey(config, { kid: oldSig.kid, owner: 'peer' }, 'compromise', new Date(t));
    // …and, its revocation shown for an overlap window, is pruned when the next key comes in.
    t += 2 * HOUR;
    await pinAnnouncedKeys(
      config,
      { keys: [(await generatePartyKeys('CZ')).publicSet.keys[0]!] },
      new Date(t),
    );
    expect(readPublicJwks(config.peer.publicJwks).keys.map((k) => k.kid)).not.to.include(oldSig.kid);
    const state = readKeyState(statePathOf(config));
    expect(state.pruned?.find((p) => p.kid === oldSig.kid)).to.deep.include({
      state: 'revoked',
      thumbprint: thumbprintOf(oldSig),
    });
    // Announced again (under its kid or another): refused.
    for (const kid of [oldSig.kid, 'cz-sig-again']) {
      const err = await refusal(() => pinAnnouncedKeys(config, { keys: [{ ...oldSig, kid }] }, new Date(t)));
      expect(err.code).to.equal('crypto.key_revoked');
    }
    // Imported again in a set confirmed by its thumbprints: refused.
    const file = join(tempDir('import'), 'cz.jwks.json');
    writeFileSync(file, JSON.stringify(original));
    const err = await refusal(() =>
      importPeer(
        config,
        file,
        thumbprints(original).map((l) => l.thumbprint),
        new Date(t),
      ),
    );
    expect(err.code).to.equal('crypto.key_revoked');
  });
});

describe('key trust: 40 rotations while messages flow', function () {
  this.timeout(600_000);
  const HOUR = 3_600_000;
  let pair: Pair;
  let offsetMs = 0;
  const now = () => new Date(Date.now() + offsetMs);

  before(async () => {
    const copies = ownKeyCopies();
    pair = await startPair((raw) => {
      copies(raw);
      raw.keys.overlapHours = 1;
    }, now);
  });
  after(async () => {
    if (process.env.KEYS_DUMP) writeFileSync(process.env.KEYS_DUMP, pair.lines.join(''));
    await pair?.close();
  });

  it('keeps both sets loadable and bounded; every message delivered once, none refused', async () => {
    const ROTATIONS = 40;
    const czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
    const kzMia = await pair.authority(pair.kzConfig, 'kz-mia');
    const submitted: string[] = [];
    let rotating = true;
    const traffic = (async () => {
      for (let i = 0; rotating; i++) {
        const fromCz = i % 2 === 0;
        const doc = example('travel-document', `rot40-${i}`);
        doc.from = fromCz ? 'cz-pp-ipc' : 'kz-mia';
        doc.to = fromCz ? { party: 'KZ', authority: 'kz-mia' } : { party: 'CZ', authority: 'cz-pp-ipc' };
        submitted.push((await (fromCz ? czIpc : kzMia).client.submit(doc as SubmissionInput)).messageId);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const delivered = (a: typeof czIpc) => a.events.items.filter((e) => e.type === 'delivered');
    /** Everything submitted so far is delivered and receipted: nothing sealed under an old key is in flight. */
    const settled = async (what: string) => {
      const upTo = [...submitted];
      await eventually(
        () => {
          const got = new Set([...kzMia.inbox.items, ...czIpc.inbox.items].map((d) => d.envelope.id));
          const receipted = new Set([...delivered(czIpc), ...delivered(kzMia)].map((e) => e.messageId));
          return Promise.resolve(upTo.every((id) => got.has(id) && receipted.has(id)) ? true : undefined);
        },
        60_000,
        what,
      );
    };
    for (let i = 0; i < ROTATIONS; i++) {
      // The test's clock jumps past the overlap window, so what was in flight must have landed first
      // (a real window of an hour or more covers a message's seconds in flight).
      await settled(`the messages before rotation ${i}`);
      // The overlap window of the key replaced last time has passed: it is pruned by this rotation.
      offsetMs += HOUR + 60_000;
      await rotateInBand(pair, 'CZ', i % 2 === 0 ? 'sig' : 'enc', now);
      expect(readPrivateJwks(pair.czConfig.keys.privateJwks).keys.length).to.be.at.most(6);
      expect(readPublicJwks(pair.kzConfig.peer.publicJwks).keys.length).to.be.at.most(6);
    }
    rotating = false;
    await traffic;
    await settled('every message delivered and receipted');
    const ids = [...kzMia.inbox.items, ...czIpc.inbox.items].map((d) => d.envelope.id);
    expect(ids.length, 'deliveries (none twice)').to.equal(submitted.length);
    expect(new Set(ids)).to.deep.equal(new Set(submitted));
    for (const c of [pair.czConfig, pair.kzConfig]) {
      expect(await drainQueue(names(c.namespace).dlq), `${c.party} dead letters`).to.deep.equal([]);
    }
    expect(submitted.length).to.be.greaterThan(ROTATIONS);
    await listKeys(pair.czConfig);
    await listKeys(pair.kzConfig);
    const pruned = readKeyState(statePathOf(pair.czConfig)).pruned ?? [];
    expect(pruned.length).to.be.at.least(ROTATIONS - 4);
  });
});

/**
 * Rotate one key of a party in band (docs/keys.md): the next key is created and announced, the peer
 * pins it, and it becomes active on the peer's receipt.
 */
async function rotateInBand(
  pair: Pair,
  party: 'CZ' | 'KZ',
  use: 'sig' | 'enc',
  now: () => Date,
): Promise<string> {
  const own = party === 'CZ' ? pair.czConfig : pair.kzConfig;
  const peer = party === 'CZ' ? pair.kzConfig : pair.czConfig;
  const { key, thumbprint } = await rotateKey(own, use, { now: now() });
  await notifyGateways(own);
  // The peer's security staff approve the announced key by the thumbprint read to them.
  await eventually(
    () => Promise.resolve(recordOf(readKeyState(statePathOf(peer)), 'peer', key.kid) ? true : undefined),
    30_000,
    `${key.kid} pinned by the peer`,
  );
  await approveKey(peer, thumbprint, now());
  await notifyGateways(peer);
  await eventually(
    () =>
      Promise.resolve(
        recordOf(readKeyState(statePathOf(own)), 'own', key.kid)?.state === 'active' ? true : undefined,
      ),
    30_000,
    `${party}'s ${use} key ${key.kid} active after the peer's receipt`,
  );
  return key.kid;
}

describe('key trust: audit verify across re-keying', function () {
  this.timeout(120_000);
  const HOUR = 3_600_000;

  it('rotates twice and verifies a log whose checkpoints span three signing keys', async () => {
    const config = pairConfigs(uniqueStem(), (raw) => {
      ownKeyCopies()(raw);
      raw.keys.overlapHours = 1;
    }).kz;
    let t = Date.parse('2027-01-01T00:00:00Z');
    const clock = () => new Date((t += 1000));
    const ring = await loadKeyRing(config, clock);
    const file = auditFileOf(config);
    const signers = new Set<string>();
    const write = async () => {
      const log = await AuditLog.open({
        file,
        now: clock,
        signer: checkpointSigner(ring),
        checkpointEvery: 2,
      });
      for (let i = 0; i < 4; i++) await log.append({ type: 'decision', reason: `r${i}` });
      await log.close();
      signers.add(ring.signingKey.kid);
    };
    await write();
    for (let r = 0; r < 2; r++) {
      // A normal rotation: the next signing key, active at once; the old one retires after an hour…
      const { key } = await rotateKey(config, 'sig', { now: new Date(t) });
      await activateKey(config, key.kid, new Date(t));
      ring.adopt(await loadKeyRing(config, clock));
      await write();
      // …and is pruned by the next rotation once that hour has passed.
      t += 2 * HOUR;
    }
    await rotateKey(config, 'enc', { now: new Date(t) });
    expect(signers.size).to.equal(3);
    const own = readPrivateJwks(config.keys.privateJwks).keys.map((k) => k.kid);
    expect(
      [...signers].filter((kid) => !own.includes(kid)),
      'signing keys pruned',
    ).to.have.length(2);

    const r = await runCli(['audit', 'verify', '--config', configFileFor(config)]);
    expect(r.stdout + r.stderr).to.match(/^ok .*: 18 records, 6 signed checkpoints verified/);
    expect(r.code).to.equal(0);
  });

  it('a gateway records a signing key it was given by hand in the key history (once the lifecycle is in use)', async () => {
    const config = pairConfigs(uniqueStem(), ownKeyCopies()).kz;
    const { log } = memoryLogger();
    rememberSigningKeys(await loadKeyRing(config, () => new Date()), config, new Date(), log);
    const history = keyHistoryPath(statePathOf(config));
    expect(existsSync(history), 'nothing written before any key operation').to.equal(false);
    await rotateKey(config, 'enc', { now: new Date() });
    const sig = readPrivateJwks(config.keys.privateJwks).keys.find((k) => k.use === 'sig')!;
    expect(readKeyHistory(history).map((e) => e.key.kid)).to.deep.equal([sig.kid]);
    // The private set replaced by hand (a re-bootstrap): the gateway records the new key when it loads it.
    const fresh = await generatePartyKeys('KZ');
    writeFileSync(config.keys.privateJwks, JSON.stringify(fresh.privateSet));
    rememberSigningKeys(await loadKeyRing(config, () => new Date()), config, new Date(), log);
    expect(readKeyHistory(history).map((e) => e.key.kid)).to.deep.equal([
      sig.kid,
      fresh.privateSet.keys[0]!.kid,
    ]);
    expect(statSync(history).mode & 0o777).to.equal(0o600);
    expect(readFileSync(history, 'utf8')).not.to.match(/"d":/);
  });

  it('names a checkpoint signed by a key it does not know apart from one that does not verify, and goes on', async () => {
    const config = pairConfigs(uniqueStem(), ownKeyCopies()).kz;
    const t = Date.parse('2027-01-01T00:00:00Z');
    let n = 0;
    const clock = () => new Date(t + ++n * 1000);
    // A signer outside this gateway's keys and history (as a log restored from another gateway's keys).
    const stranger = await loadKeyRing(pairConfigs(uniqueStem(), ownKeyCopies()).cz, clock);
    const file = auditFileOf(config);
    const log = await AuditLog.open({
      file,
      now: clock,
      signer: checkpointSigner(stranger),
      checkpointEvery: 2,
    });
    for (let i = 0; i < 4; i++) await log.append({ type: 'decision', reason: `r${i}` });
    await log.close();
    const r = await runCli(['audit', 'verify', '--config', configFileFor(config)]);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.match(/2 checkpoints? signed by keys? .*not in the key history/);
    expect(r.stdout).to.include(stranger.signingKey.kid);
    expect(r.stdout).not.to.match(/does not verify/);
    // Given the key's public half, it verifies.
    const extra = join(tempDir('hist'), 'old.jwks.json');
    writeFileSync(
      extra,
      JSON.stringify({
        keys: [publicHalf(readPrivateJwks(join(ROOT, 'certs-example', 'cz', 'private.jwks.json')).keys[0]!)],
      }),
    );
    const ok = await runCli(['audit', 'verify', '--config', configFileFor(config), '--keys', extra]);
    expect(ok.stdout, ok.stderr).to.match(/^ok .*: 6 records, 2 signed checkpoints verified/);
  });
});

/** A fresh CZ-named key pair an attacker holds, and a ring that seals with it for KZ. */
async function attackerKeys(pair: Pair): Promise<{ sig: PublicJwk; seal: (env: Json) => Promise<Buffer> }> {
  const fresh = await generatePartyKeys('CZ');
  const sig = fresh.privateSet.keys.find((k) => k.use === 'sig')!;
  const ring = await KeyRing.fromSets({ keys: [sig] }, readPublicJwks(pair.czConfig.peer.publicJwks));
  return {
    sig: publicHalf(sig),
    seal: async (env) =>
      Buffer.from(await seal(Buffer.from(JSON.stringify(env)), ring, pair.czConfig.crypto)),
  };
}

/** Announce `key` to KZ in a key-announcement signed with CZ's current signing key (the stolen one). */
async function announceWithStolenKey(pair: Pair, key: PublicJwk): Promise<Json> {
  const env = keyMessage('key-announcement', {
    keys: [key],
    thumbprints: thumbprints({ keys: [key] }).map((t) => t.thumbprint),
  });
  await publishRaw(names(pair.kzConfig.namespace).ingress, await sealAsCz(pair.czConfig, env));
  return env;
}

/** A travel document from CZ for KZ's kz-mia, as a forger would send it. */
function forgedDocument(): Json {
  return testEnvelope({ to: { party: 'KZ', authority: 'kz-mia' } });
}

describe('key trust: a revoked signing key keeps no heirs', function () {
  this.timeout(120_000);

  describe('with keys.approveAnnouncedSigningKeys off (the review’s set-up)', () => {
    let pair: Pair;
    before(async () => {
      const copies = ownKeyCopies();
      pair = await startPair((raw) => {
        copies(raw);
        if (raw.party === 'KZ') raw.keys.approveAnnouncedSigningKeys = false;
      });
    });
    after(async () => {
      await pair?.close();
    });

    it('revoking the key that announced another (by thumbprint) holds that key too: its messages are not delivered', async () => {
      const kz = pair.kzConfig;
      const kzMia = await pair.authority(kz, 'kz-mia');
      const stolen = readPublicJwks(kz.peer.publicJwks).keys.find((k) => k.use === 'sig')!;
      const attacker = await attackerKeys(pair);
      await announceWithStolenKey(pair, attacker.sig);
      await eventually(
        () =>
          Promise.resolve(
            recordOf(readKeyState(statePathOf(kz)), 'peer', attacker.sig.kid)?.state === 'active'
              ? true
              : undefined,
          ),
        30_000,
        'the announced key pinned (approval switched off)',
      );
      // KZ's security staff revoke the stolen key, named by its thumbprint (docs/keys.md, compromise).
      const r = await runCli([
        'keys',
        'revoke',
        '--thumbprint',
        thumbprintOf(stolen),
        '--config',
        configFileFor(kz),
        '--reason',
        'stolen',
      ]);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.include(attacker.sig.kid);
      const held = recordOf(readKeyState(statePathOf(kz)), 'peer', attacker.sig.kid);
      expect(held?.state).to.equal('held');
      expect(held?.reason).to.include(stolen.kid);
      const list = await runCli(['keys', 'list', '--config', configFileFor(kz)]);
      expect(list.stdout).to.match(
        new RegExp(`held .*kid ${attacker.sig.kid}.*announced by revoked key ${stolen.kid}`),
      );

      // A message signed with the announced key is never delivered.
      const forged = forgedDocument();
      await publishRaw(names(kz.namespace).ingress, await attacker.seal(forged));
      await eventually(
        () =>
          Promise.resolve(
            pair.lines.some((l) => l.includes('"gw":"KZ"') && l.includes('"code":"crypto.key_held"'))
              ? true
              : undefined,
          ),
        20_000,
        'KZ holds the message signed with the held key',
      );
      await new Promise((resolve) => setTimeout(resolve, 2000));
      expect(kzMia.inbox.items.map((d) => d.envelope.id)).not.to.include(forged.id);
    });
  });

  describe('by default: an announced signing key signs nothing until approved by thumbprint', () => {
    let pair: Pair;
    before(async () => {
      pair = await startPair(ownKeyCopies());
    });
    after(async () => {
      await pair?.close();
    });

    it('pins it held, keeps the key in force, and delivers what it signed once approved', async () => {
      const kz = pair.kzConfig;
      const kzMia = await pair.authority(kz, 'kz-mia');
      const inForce = readPublicJwks(kz.peer.publicJwks).keys.find((k) => k.use === 'sig')!;
      const announced = await attackerKeys(pair);
      await announceWithStolenKey(pair, announced.sig);
      await eventually(
        () =>
          Promise.resolve(
            recordOf(readKeyState(statePathOf(kz)), 'peer', announced.sig.kid)?.state === 'held'
              ? true
              : undefined,
          ),
        30_000,
        'the announced signing key pinned, held',
      );
      const state = readKeyState(statePathOf(kz));
      expect(recordOf(state, 'peer', inForce.kid)?.state ?? 'active', 'the key in force').to.equal('active');
      expect(recordOf(state, 'peer', announced.sig.kid)?.announcedBy).to.equal(inForce.kid);

      const doc = forgedDocument();
      await publishRaw(names(kz.namespace).ingress, await announced.seal(doc));
      await new Promise((resolve) => setTimeout(resolve, 3000));
      expect(
        kzMia.inbox.items.map((d) => d.envelope.id),
        'delivered before approval',
      ).not.to.include(doc.id);

      // Approved by the thumbprint read over the phone: the waiting message goes through.
      const r = await runCli([
        'keys',
        'approve',
        '--thumbprint',
        thumbprintOf(announced.sig),
        '--config',
        configFileFor(kz),
      ]);
      expect(r.code, r.stderr).to.equal(0);
      await kzMia.inbox.waitFor((d) => d.envelope.id === doc.id, 30_000, 'the message after approval');
      const after = readKeyState(statePathOf(kz));
      expect(recordOf(after, 'peer', announced.sig.kid)?.state).to.equal('active');
      expect(recordOf(after, 'peer', inForce.kid)?.state).to.equal('retiring');
    });
  });
});

describe('key trust: the heirs of a key (pure)', () => {
  it('are the keys announced by it, transitively, except those approved by thumbprint', () => {
    const peer = (kid: string, announcedBy?: string, extra: Json = {}) => ({
      kid,
      owner: 'peer' as const,
      use: 'sig' as const,
      state: 'active' as const,
      ...(announcedBy === undefined ? {} : { announcedBy }),
      ...extra,
    });
    const state = {
      keys: [
        peer('a'),
        peer('b', 'a'),
        peer('c', 'b'),
        peer('d', 'a', { approvedAt: '2027-01-01T00:00:00Z' }),
        peer('e', 'd'),
        peer('f', 'c', { state: 'revoked' }),
        { ...peer('g', 'a'), owner: 'own' as const },
      ],
    };
    expect(heirsOf(state, 'a')).to.deep.equal(['b', 'c']);
    expect(heirsOf(state, 'd')).to.deep.equal(['e']);
    expect(heirsOf(state, 'c')).to.deep.equal([]);
  });
});
