/**
 * Key management: lifecycle states and validity, rotation of both parties' signing and
 * encryption keys while traffic flows (none lost, refused or delivered twice), revocation, trust
 * bootstrap by thumbprints checked out of band, and expiry (nothing is ever signed with an expired key).
 * Gateways run for real; their clock is the test's `now`, never a real wait for a deadline.
 */
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SubmissionInput } from '../src/client/index.js';
import { names, type Config } from '../src/config.js';
import { readPrivateJwks, readPublicJwks } from '../src/crypto/jwk.js';
import { KeyRing } from '../src/crypto/keyring.js';
import {
  daysUntilExpiry,
  expiringKeys,
  pickUsable,
  readKeyState,
  recordOf,
  writeKeyState,
  type KeyStateFile,
} from '../src/crypto/lifecycle.js';
import { open } from '../src/crypto/open.js';
import { seal } from '../src/crypto/seal.js';
import { checkThumbprints, thumbprints } from '../src/crypto/trust.js';
import { AccordError } from '../src/errors.js';
import {
  activateKey,
  approveKey,
  exportPublic,
  importPeer,
  listKeys,
  notifyGateways,
  revokeKey,
  rotateKey,
} from '../src/keys/operations.js';
import { statePathOf } from '../src/keys/watch.js';
import {
  ROOT,
  configFileFor,
  drainQueue,
  eventually,
  example,
  publishRaw,
  sealAsCz,
  startPair,
  testEnvelope,
  waitForDeadLetter,
  type Pair,
  ownKeyCopies,
  runCli,
} from './helpers/harness.js';
import { expectCode } from './helpers/expect-code.js';
import { tempDir } from './helpers/temp.js';

const run = runCli;

/** Wait until a synchronous fact holds (what the gateways logged, what the test counted). */
function until(pred: () => boolean, timeoutMs: number, what: string): Promise<true> {
  return eventually(() => Promise.resolve(pred() ? true : undefined), timeoutMs, what);
}

/** How many times a gateway has reloaded its keys (watch.ts logs one line per reload). */
function reloads(lines: string[], gw: 'CZ' | 'KZ'): number {
  return lines.filter((l) => l.includes(`"gw":"${gw}"`) && l.includes('key sets and states reloaded')).length;
}

/** Run a key operation, tell the gateway, and wait until it has reloaded. */
async function changeKeys(pair: Pair, gw: 'CZ' | 'KZ', op: () => unknown): Promise<void> {
  const before = reloads(pair.lines, gw);
  await op();
  await notifyGateways(gw === 'CZ' ? pair.czConfig : pair.kzConfig);
  await until(() => reloads(pair.lines, gw) > before, 20_000, `${gw} reload`);
}

/** Export `from`'s public set and pin it at `to`, against the thumbprints `from` printed. */
async function handOver(pair: Pair, from: Config, to: 'CZ' | 'KZ'): Promise<void> {
  const { set, thumbprints: lines } = await exportPublic(from);
  const file = join(tempDir('export'), 'public.jwks.json');
  writeFileSync(file, JSON.stringify(set));
  const toConfig = to === 'CZ' ? pair.czConfig : pair.kzConfig;
  await changeKeys(pair, to, () =>
    importPeer(
      toConfig,
      file,
      lines.map((l) => l.thumbprint),
      new Date(),
    ),
  );
}

/**
 * Rotate one party's signing and encryption keys in band (docs/keys.md): the next keys are created,
 * the gateway announces them in a signed key-announcement, the peer pins them, and each becomes active
 * when the peer's receipt comes back. No file is handed over, no cut-over moment.
 */
async function rotateBoth(pair: Pair, party: 'CZ' | 'KZ'): Promise<string[]> {
  const own = party === 'CZ' ? pair.czConfig : pair.kzConfig;
  const now = new Date();
  const signing = (await listKeys(own)).find(
    (k) => k.owner === 'own' && k.use === 'sig' && k.state === 'active',
  )!.kid;
  const sig = await rotateKey(own, 'sig', { now });
  const enc = await rotateKey(own, 'enc', { now });
  // The new decryption key is in place (state next: it decrypts) before the peer learns of it.
  await changeKeys(pair, party, () => undefined);
  const kids = [sig.key.kid, enc.key.kid];
  // The peer's security staff approve the announced keys by the thumbprints read to them over the
  // phone: the signing key signs nothing at the peer before (keys.approveAnnouncedSigningKeys).
  const peer = party === 'CZ' ? 'KZ' : 'CZ';
  const peerConfig = party === 'CZ' ? pair.kzConfig : pair.czConfig;
  await until(
    () => kids.every((kid) => recordOf(readKeyState(statePathOf(peerConfig)), 'peer', kid) !== undefined),
    60_000,
    `${party}'s announced keys pinned by ${peer}`,
  );
  // Both announcements are signed with the key the peer trusts now, even when the receipt for the first
  // came back (and made the new signing key active) before the second was sent: an announcement signed
  // with the new key would wait at the peer, held, until security staff approved that key.
  const pinned = await listKeys(peerConfig);
  for (const kid of kids) {
    expect(pinned.find((k) => k.owner === 'peer' && k.kid === kid)?.announcedBy, kid).to.equal(signing);
  }
  for (const { thumbprint } of [sig, enc]) {
    await changeKeys(pair, peer, () => approveKey(peerConfig, thumbprint, new Date()));
  }
  await until(
    () => kids.every((kid) => recordOf(readKeyState(statePathOf(own)), 'own', kid)?.state === 'active'),
    60_000,
    `${party}'s announced keys active after the peer's receipt`,
  );
  return kids;
}

describe('keys/lifecycle (pure)', () => {
  const at = (s: string) => new Date(s);
  const state: KeyStateFile = {
    keys: [
      { kid: 'a', owner: 'own', use: 'sig', state: 'active', exp: '2027-01-10T00:00:00Z' },
      { kid: 'b', owner: 'own', use: 'sig', state: 'next', nbf: '2027-01-01T00:00:00Z' },
      { kid: 'c', owner: 'own', use: 'sig', state: 'revoked', reason: 'test' },
    ],
  };
  const keys = [{ kid: 'a' }, { kid: 'b' }, { kid: 'c' }];

  it('signs with the active key until a scheduled successor takes over at its nbf', () => {
    expect(pickUsable(state, 'own', keys, at('2026-12-31T23:59:59Z'))?.kid).to.equal('a');
    expect(pickUsable(state, 'own', keys, at('2027-01-01T00:00:00Z'))?.kid).to.equal('b');
  });

  it('never picks an expired or revoked key', () => {
    const onlyA = [{ kid: 'a' }, { kid: 'c' }];
    expect(pickUsable(state, 'own', onlyA, at('2027-01-09T23:59:59Z'))?.kid).to.equal('a');
    expect(pickUsable(state, 'own', onlyA, at('2027-01-10T00:00:00Z'))).to.equal(undefined);
  });

  it('reports days until each key expires and which are within the warning window', () => {
    expect(daysUntilExpiry(state, at('2026-12-31T00:00:00Z'))).to.deep.equal([
      { kid: 'a', owner: 'own', use: 'sig', state: 'active', exp: '2027-01-10T00:00:00Z', daysLeft: 10 },
    ]);
    expect(expiringKeys(state, at('2026-12-31T00:00:00Z'), 10)).to.have.length(0);
    expect(expiringKeys(state, at('2026-12-31T00:00:01Z'), 10).map((k) => k.kid)).to.deep.equal(['a']);
  });

  it('refuses a state file with unknown members or a duplicate kid', () => {
    const dir = tempDir('state');
    const file = join(dir, 'key-state.json');
    // Owner-only, as the gateway writes it (a state file others may read or change is refused).
    writeFileSync(
      file,
      JSON.stringify({ keys: [{ kid: 'a', owner: 'own', use: 'sig', state: 'active', d: 'x' }] }),
      { mode: 0o600 },
    );
    expect(() => readKeyState(file)).to.throw(AccordError, /key state at keys\.0/);
    writeFileSync(file, JSON.stringify({ keys: [state.keys[0], state.keys[0]] }));
    expect(() => readKeyState(file)).to.throw(AccordError, /duplicate kid/);
    expect(readKeyState(join(dir, 'missing.json'))).to.deep.equal({ keys: [] });
  });
});

describe('keys/trust: thumbprints checked out of band', () => {
  const kzPublic = readPublicJwks(join(ROOT, 'certs-example', 'kz', 'public.jwks.json'));
  const good = thumbprints(kzPublic).map((l) => l.thumbprint);

  it('accepts exactly the confirmed thumbprints, refuses a set with any other', async () => {
    expect(() => checkThumbprints(kzPublic, good)).not.to.throw();
    const wrong = [good[0]!, 'A'.repeat(43)];
    await expectCode(() => checkThumbprints(kzPublic, wrong), 'keys.thumbprint_mismatch');
    expect(() => checkThumbprints(kzPublic, [good[0]!])).to.throw(AccordError, /not confirmed/);
    expect(() => checkThumbprints(kzPublic, [])).to.throw(AccordError, /out of band/);
  });

  it('import-peer with a wrong thumbprint exits 1 with keys.thumbprint_mismatch and pins nothing', async () => {
    const dir = tempDir('import');
    const raw = JSON.parse(readFileSync(join(ROOT, 'config', 'cz.json'), 'utf8')) as Record<string, any>;
    ownKeyCopies()(raw);
    raw.namespace = `imp-${Date.now()}`;
    const configFile = join(dir, 'cz.json');
    writeFileSync(configFile, JSON.stringify(raw));
    const pinnedBefore = readFileSync(raw.peer.publicJwks as string, 'utf8');
    const kzFile = join(ROOT, 'certs-example', 'kz', 'public.jwks.json');

    const bad = await run([
      'keys',
      'import-peer',
      kzFile,
      '--config',
      configFile,
      '--expect-thumbprint',
      good[0]!,
      '--expect-thumbprint',
      'B'.repeat(43),
    ]);
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.match(/^keys\.thumbprint_mismatch: /);
    expect(readFileSync(raw.peer.publicJwks as string, 'utf8')).to.equal(pinnedBefore);

    const ok = await run([
      'keys',
      'import-peer',
      kzFile,
      '--config',
      configFile,
      ...good.flatMap((t) => ['--expect-thumbprint', t]),
    ]);
    expect(ok.code, ok.stderr).to.equal(0);
    expect(ok.stdout).to.include(`thumbprint ${good[0]}`);

    const list = await run(['keys', 'list', '--config', configFile]);
    expect(list.code, list.stderr).to.equal(0);
    for (const t of good) expect(list.stdout).to.match(new RegExp(`^peer .*active .*thumbprint ${t}$`, 'm'));
    // Nothing private is ever printed.
    for (const k of readPrivateJwks(raw.keys.privateJwks as string).keys) {
      if (k.kty === 'EC') expect(list.stdout).not.to.include(k.d);
    }
  });
});

describe('keys: revocation and expiry in the key ring', () => {
  it('a revoked peer key is refused with crypto.key_revoked; an expired own key never signs', async () => {
    const cz = readPrivateJwks(join(ROOT, 'certs-example', 'cz', 'private.jwks.json'));
    const kz = readPrivateJwks(join(ROOT, 'certs-example', 'kz', 'private.jwks.json'));
    const czPub = readPublicJwks(join(ROOT, 'certs-example', 'cz', 'public.jwks.json'));
    const kzPub = readPublicJwks(join(ROOT, 'certs-example', 'kz', 'public.jwks.json'));
    const czRing = await KeyRing.fromSets(cz, kzPub);
    const kzRing = await KeyRing.fromSets(kz, czPub);
    const profile = { ...(await import('../src/crypto/profile.js')).FULL_PROFILE };
    const jwe = await seal(Buffer.from('{}'), czRing, profile);
    await open(Buffer.from(jwe), kzRing, profile);

    const czSig = czPub.keys.find((k) => k.use === 'sig')!.kid;
    kzRing.useState({ keys: [{ kid: czSig, owner: 'peer', use: 'sig', state: 'revoked', reason: 'test' }] });
    const revoked = await expectCode(open(Buffer.from(jwe), kzRing, profile), 'crypto.key_revoked');
    expect(revoked.kid).to.equal(czSig);

    const ownSig = cz.keys.find((k) => k.use === 'sig')!.kid;
    let now = new Date('2027-03-01T00:00:00Z');
    czRing.useState(
      { keys: [{ kid: ownSig, owner: 'own', use: 'sig', state: 'active', exp: '2027-03-01T00:00:01Z' }] },
      () => now,
    );
    await seal(Buffer.from('{}'), czRing, profile);
    now = new Date('2027-03-01T00:00:01Z');
    await expectCode(seal(Buffer.from('{}'), czRing, profile), 'crypto.key_expired');
  });
});

describe('keys: a pair of gateways', function () {
  this.timeout(300_000);
  let pair: Pair;
  let offsetMs = 0;
  const now = () => new Date(Date.now() + offsetMs);

  before(async () => {
    pair = await startPair(ownKeyCopies(), now);
  });
  after(async () => {
    if (process.env.KEYS_DUMP) writeFileSync(process.env.KEYS_DUMP, pair.lines.join(''));
    await pair?.close();
  });

  it('rotates the signing and encryption keys of both parties while messages flow: none lost, refused or doubled', async () => {
    const TOTAL = Number(process.env.ACCORD_ROTATION_MESSAGES ?? 2000);
    const czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
    const kzMia = await pair.authority(pair.kzConfig, 'kz-mia');
    const czOld = await listKeys(pair.czConfig);
    const kzOld = await listKeys(pair.kzConfig);

    // Half the traffic each way, submitted while the four rotations happen.
    const submitted: string[] = [];
    const submitAll = (async () => {
      for (let i = 0; i < TOTAL; i++) {
        const fromCz = i % 2 === 0;
        const doc = example('travel-document', `rot-${i}`);
        doc.from = fromCz ? 'cz-pp-ipc' : 'kz-mia';
        doc.to = fromCz ? { party: 'KZ', authority: 'kz-mia' } : { party: 'CZ', authority: 'cz-pp-ipc' };
        const { messageId } = await (fromCz ? czIpc : kzMia).client.submit(doc as SubmissionInput);
        submitted.push(messageId);
      }
    })();
    const progress = (n: number) => until(() => submitted.length >= n, 120_000, `${n} submitted`);
    await progress(TOTAL / 4);
    const czNew = await rotateBoth(pair, 'CZ');
    await progress(TOTAL / 2);
    const kzNew = await rotateBoth(pair, 'KZ');
    await submitAll;

    const delivered = (a: typeof czIpc) => a.events.items.filter((e) => e.type === 'delivered').length;
    await until(
      () =>
        kzMia.inbox.items.length + czIpc.inbox.items.length >= TOTAL &&
        delivered(czIpc) + delivered(kzMia) >= TOTAL,
      240_000,
      'every message delivered and receipted',
    );
    const inboxIds = [...kzMia.inbox.items, ...czIpc.inbox.items].map((d) => d.envelope.id);
    expect(new Set(inboxIds).size, 'distinct messages in the inboxes').to.equal(TOTAL);
    expect(inboxIds.length, 'deliveries (none twice)').to.equal(TOTAL);
    expect(new Set(inboxIds)).to.deep.equal(new Set(submitted));
    const receipted = [...czIpc.events.items, ...kzMia.events.items].filter((e) => e.type === 'delivered');
    expect(new Set(receipted.map((e) => e.messageId)).size, 'receipts').to.equal(TOTAL);
    const bad = [...czIpc.events.items, ...kzMia.events.items].filter(
      (e) => e.type === 'rejected' || e.type === 'failed',
    );
    expect(bad, 'refused or failed').to.deep.equal([]);
    for (const c of [pair.czConfig, pair.kzConfig]) {
      expect(await drainQueue(names(c.namespace).dlq), `${c.party} dead letters`).to.deep.equal([]);
    }

    // The new keys are active on both sides; the old ones retire after the overlap window.
    const czNow = await listKeys(pair.czConfig);
    for (const kid of czNew)
      expect(czNow.find((k) => k.owner === 'own' && k.kid === kid)?.state).to.equal('active');
    for (const k of czOld.filter((k) => k.owner === 'own')) {
      expect(czNow.find((n) => n.owner === 'own' && n.kid === k.kid)?.state).to.equal('retiring');
    }
    const kzNow = await listKeys(pair.kzConfig);
    for (const kid of kzNew)
      expect(kzNow.find((k) => k.owner === 'own' && k.kid === kid)?.state).to.equal('active');
    for (const k of kzOld.filter((k) => k.owner === 'own')) {
      expect(kzNow.find((n) => n.owner === 'own' && n.kid === k.kid)?.state).to.equal('retiring');
    }
    // From now on messages are signed with the new keys and encrypted to the peer's new keys.
    const after = example('travel-document', `rot-after-${TOTAL}`);
    after.to = { party: 'KZ', authority: 'kz-mia' };
    const { messageId } = await czIpc.client.submit(after as SubmissionInput);
    const got = await kzMia.inbox.waitFor((d) => d.envelope.id === messageId, 30_000, 'a message after');
    expect(JSON.stringify(got)).to.include(czNew[0]!).and.to.include(kzNew[1]!);
  });

  it('an announcement whose keys do not match its thumbprints is parked, and nothing is pinned', async () => {
    const before = readFileSync(pair.kzConfig.peer.publicJwks, 'utf8');
    const {
      keys: [fake],
    } = readPublicJwks(pair.kzConfig.peer.publicJwks);
    const env = testEnvelope({
      kind: 'key-announcement',
      priority: 'urgent',
      handling: { purposes: [], conditions: [], sensitive: [] },
      body: { keys: [{ ...fake, kid: 'cz-sig-forged' }], thumbprints: ['A'.repeat(43)] },
    });
    await publishRaw(names(pair.kzConfig.namespace).ingress, await sealAsCz(pair.czConfig, env));
    const letter = await waitForDeadLetter(
      names(pair.kzConfig.namespace).dlq,
      (l) => l.code === 'keys.thumbprint_mismatch',
      [],
      30_000,
    );
    expect(letter.messageId).to.equal(env.id);
    expect(readFileSync(pair.kzConfig.peer.publicJwks, 'utf8')).to.equal(before);
  });

  it('a message signed with a revoked key is refused and parked with crypto.key_revoked', async () => {
    // CZ's original signing key (retiring after the rotation above, still trusted) is revoked at KZ.
    const czOriginal = readPrivateJwks(join(ROOT, 'certs-example', 'cz', 'private.jwks.json'));
    const oldSig = czOriginal.keys.find((k) => k.use === 'sig')!.kid;
    // CZ revokes its own key (docs/keys.md, compromise); its gateway tells KZ's in a signed
    // key-revocation, and KZ revokes its pin of it.
    await changeKeys(pair, 'CZ', () => revokeKey(pair.czConfig, oldSig, 'compromise drill', new Date()));
    await until(
      () => readKeyState(statePathOf(pair.kzConfig)).keys.find((k) => k.kid === oldSig)?.state === 'revoked',
      30_000,
      'KZ learns of the revocation in band',
    );
    // The key state changes first; the record follows once the revocation's claim and receipt are done.
    const record = await eventually(
      () =>
        Promise.resolve(
          readFileSync(pair.kzConfig.records.auditFile!, 'utf8')
            .split('\n')
            .find((l) => l.includes('"kind":"key-revocation"')),
        ),
      30_000,
      'KZ records the revocation (Art. 10(6))',
    );
    expect(record).to.match(/"type":"key-operation"/);
    expect(record).to.contain(`peer revoked sig:${oldSig}`);

    // An attacker holding the old key seals a well-formed message for KZ.
    const ring = await KeyRing.fromSets(czOriginal, readPublicJwks(pair.czConfig.peer.publicJwks));
    const env = testEnvelope();
    const jwe = await seal(Buffer.from(JSON.stringify(env)), ring, pair.czConfig.crypto);
    await publishRaw(names(pair.kzConfig.namespace).ingress, Buffer.from(jwe));
    const letter = await waitForDeadLetter(
      names(pair.kzConfig.namespace).dlq,
      (l) => l.code === 'crypto.key_revoked',
      [],
      30_000,
    );
    expect(letter.code).to.equal('crypto.key_revoked');
  });

  it('accord keys rotate on the command line: recorded by the running gateway, announced, active on the receipt', async () => {
    const r = await run(['keys', 'rotate', '--use', 'enc', '--config', configFileFor(pair.czConfig)]);
    expect(r.code, r.stderr).to.equal(0);
    const kid = /next enc key (\S+)/.exec(r.stdout)![1]!;
    await until(
      () => recordOf(readKeyState(statePathOf(pair.czConfig)), 'own', kid)?.state === 'active',
      30_000,
      'the rotated key active after the peer received its announcement',
    );
    expect(readPublicJwks(pair.kzConfig.peer.publicJwks).keys.map((k) => k.kid)).to.include(kid);
    // The key state changes first and its record follows: wait for the record, then check it.
    const audit = (config: typeof pair.czConfig) => readFileSync(config.records.auditFile!, 'utf8');
    const rotated = new RegExp(`"type":"key-operation","reason":"rotate enc next kid ${kid} thumbprint`);
    await until(
      () => rotated.test(audit(pair.czConfig)) && audit(pair.czConfig).includes(`activated own enc:${kid}`),
      30_000,
      "CZ's records of the rotation and the activation",
    );
    await until(
      () => audit(pair.kzConfig).includes(`peer announced enc:${kid}`),
      30_000,
      "KZ's record of the announcement",
    );
  });

  it('an expired key never signs: the message waits with an error-level crypto.key_expired, then goes out', async () => {
    const czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
    const kzNcb = await pair.authority(pair.kzConfig, 'kz-ncb');
    // CZ's active signing key expires in 10 days; the test's clock jumps past that.
    const statePath = statePathOf(pair.czConfig);
    const state = readKeyState(statePath);
    const active = state.keys.find((k) => k.owner === 'own' && k.use === 'sig' && k.state === 'active')!;
    const exp = new Date(Date.now() + 10 * 86_400_000).toISOString();
    await changeKeys(pair, 'CZ', () =>
      writeKeyState(statePath, { keys: state.keys.map((k) => (k === active ? { ...k, exp } : k)) }),
    );
    expect(pair.lines.some((l) => l.includes('"code":"keys.expiring"') && l.includes(active.kid))).to.equal(
      true,
    );
    // …and the administrators are alerted.
    expect(
      pair.lines.some(
        (l) => l.includes('"alert":"alert.key_expiring"') && l.includes(`"kid":"${active.kid}"`),
      ),
    ).to.equal(true);

    offsetMs = 11 * 86_400_000;
    const doc = example('travel-document', `expired-${Date.now()}`);
    const { messageId } = await czIpc.client.submit(doc as SubmissionInput);
    await until(
      () => pair.lines.some((l) => l.includes('"level":50') && l.includes('"code":"crypto.key_expired"')),
      20_000,
      'the error-level crypto.key_expired line',
    );
    expect(kzNcb.inbox.items.find((d) => d.envelope.id === messageId)).to.equal(undefined);
    expect(czIpc.events.items.filter((e) => e.messageId === messageId && e.type === 'sent')).to.deep.equal(
      [],
    );

    // A fresh key, handed over and activated, and the waiting message goes out.
    const next = await rotateKey(pair.czConfig, 'sig', { now: now() });
    await handOver(pair, pair.czConfig, 'KZ');
    await changeKeys(pair, 'CZ', () => activateKey(pair.czConfig, next.key.kid, now()));
    const arrived = await kzNcb.inbox.waitFor(
      (d) => d.envelope.id === messageId,
      60_000,
      'the waiting message',
    );
    expect(JSON.stringify(arrived)).to.include(next.key.kid);
    offsetMs = 0;
  });
});
