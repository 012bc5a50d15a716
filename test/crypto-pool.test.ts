/**
 * crypto/pool: seal and open on worker threads give what the inline path gives (each opens what the
 * other sealed, with the same facts and the same error codes), follow key-ring changes, serve urgent jobs
 * first, and replace a stuck worker, failing its job with a retried code. No broker, no Redis; no timing
 * assertions beyond the watchdog's own timeout.
 */
import { expect } from 'chai';
import type { AccordError } from '../src/errors.js';
import { generatePartyKeys } from '../src/crypto/keygen.js';
import { KeyRing } from '../src/crypto/keyring.js';
import { open } from '../src/crypto/open.js';
import { seal } from '../src/crypto/seal.js';
import { CryptoPool, INLINE_CRYPTO, cryptoRunner } from '../src/crypto/pool.js';
import type { CryptoProfile } from '../src/crypto/profile.js';
import { expectCode } from './helpers/expect-code.js';

const profile: CryptoProfile = {
  signatureAlgs: ['ES256'],
  keyEncryptionAlgs: ['ECDH-ES+A256KW'],
  contentEncryptionAlgs: ['A256GCM'],
  maxMessageBytes: 64 * 1024,
};

const payload = Buffer.from(JSON.stringify({ note: 'a travel document list', n: 42 }));

describe('crypto/pool', () => {
  let czRing: KeyRing;
  let kzRing: KeyRing;
  let secrets: string[];
  const pools: CryptoPool[] = [];
  const pool = (opts: Partial<ConstructorParameters<typeof CryptoPool>[0]> = {}) => {
    const p = new CryptoPool({ workers: 2, jobTimeoutMs: 10_000, ...opts });
    pools.push(p);
    return p;
  };

  before(async () => {
    const cz = await generatePartyKeys('CZ');
    const kz = await generatePartyKeys('KZ');
    secrets = [...cz.privateSet.keys, ...kz.privateSet.keys].map((k) => k.d);
    czRing = await KeyRing.fromSets(cz.privateSet, kz.publicSet);
    kzRing = await KeyRing.fromSets(kz.privateSet, cz.publicSet);
  });

  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.close()));
  });

  it('seals on a worker what the inline open opens', async () => {
    const p = pool();
    const jwe = await p.seal(payload, czRing, profile);
    const opened = await open(jwe, kzRing, profile);
    expect(opened.payload.equals(payload)).to.equal(true);
  });

  it('opens on a worker what the inline seal sealed, with the same facts', async () => {
    const p = pool();
    const jwe = await seal(payload, czRing, profile);
    const inline = await open(jwe, kzRing, profile);
    const pooled = await p.open(jwe, kzRing, profile);
    expect(pooled.payload.equals(payload)).to.equal(true);
    expect(pooled.facts).to.deep.equal(inline.facts);
    // The same bytes given as a Buffer (as they come off the broker).
    const fromBuffer = await p.open(Buffer.from(jwe, 'latin1'), kzRing, profile, { urgent: true });
    expect(fromBuffer.facts).to.deep.equal(inline.facts);
  });

  it('refuses on a worker with the same code as inline, and no key material in the error', async () => {
    const p = pool();
    const jwe = await seal(payload, czRing, profile);
    const parts = jwe.split('.');
    const ct = parts[3]!;
    parts[3] = (ct[0] === 'A' ? 'B' : 'A') + ct.slice(1);
    const tampered = parts.join('.');
    const inline = await expectCode(open(tampered, kzRing, profile));
    const pooled = await expectCode(p.open(tampered, kzRing, profile));
    expect(pooled.toJSON()).to.deep.equal(inline.toJSON());
    expect(pooled.code).to.equal('crypto.decrypt_failed');
    // CZ's ring holds no KZ decryption key: unknown kid, named by kid only.
    const wrongRing = await expectCode(p.open(jwe, czRing, profile));
    expect(wrongRing.toJSON()).to.deep.equal((await expectCode(open(jwe, czRing, profile))).toJSON());
    for (const e of [pooled, wrongRing]) {
      for (const s of secrets) expect(JSON.stringify(e.toJSON()) + e.message).not.to.include(s);
    }
  });

  it('follows a key-ring change: a peer key revoked after a first job is refused on the workers too', async () => {
    const p = pool({ workers: 1 });
    const ring = await KeyRing.fromSets({ keys: kzRing.snapshot().own }, { keys: kzRing.snapshot().peer });
    const jwe = await seal(payload, czRing, profile);
    await p.open(jwe, ring, profile);
    const czSigKid = czRing.inventory().find((k) => k.owner === 'own' && k.use === 'sig')!.kid;
    ring.useState({ keys: [{ kid: czSigKid, owner: 'peer', use: 'sig', state: 'revoked' }] });
    const inline = await expectCode(open(jwe, ring, profile));
    const pooled = await expectCode(p.open(jwe, ring, profile));
    expect(pooled.code).to.equal('crypto.key_revoked');
    expect(pooled.toJSON()).to.deep.equal(inline.toJSON());
  });

  it('serves an urgent job before the normal ones waiting', async () => {
    const p = pool({ workers: 1, jobsPerWorker: 1 });
    const done: string[] = [];
    const jobs: Promise<unknown>[] = [];
    // The first normal job takes the only worker at once; the rest wait, and the urgent one goes first.
    for (let i = 0; i < 5; i++) {
      jobs.push(p.seal(payload, czRing, profile).then(() => done.push(`normal-${i}`)));
    }
    jobs.push(p.seal(payload, czRing, profile, { urgent: true }).then(() => done.push('urgent')));
    expect(p.waiting).to.equal(5);
    await Promise.all(jobs);
    expect(done).to.deep.equal(['normal-0', 'urgent', 'normal-1', 'normal-2', 'normal-3', 'normal-4']);
  });

  it('replaces a stuck worker and fails its job with infra.unavailable, so the message is retried', async () => {
    const replaced: unknown[] = [];
    const p = pool({
      workers: 1,
      jobsPerWorker: 1,
      // Long enough for the replacement thread to start and seal on a loaded machine (500 ms was not).
      jobTimeoutMs: 3000,
      workerUrl: new URL('./fixtures/stalling-crypto-worker.js', import.meta.url),
      onReplaced: (info) => replaced.push(info),
    });
    const stuck = expectCode(p.seal(Buffer.from('STALL'), czRing, profile));
    // Queued behind the stuck job: served by the replacement worker.
    const next = p.seal(payload, czRing, profile);
    const err = await stuck;
    expect(err.code).to.equal('infra.unavailable');
    expect(err.message).to.match(/crypto worker took longer than 3000 ms to seal; it was replaced/);
    expect(replaced).to.deep.equal([{ job: 'seal', reason: 'timeout' }]);
    const opened = await open(await next, kzRing, profile);
    expect(opened.payload.equals(payload)).to.equal(true);
  });

  it('fails the jobs still waiting when closed, and refuses new ones', async () => {
    const p = pool({ workers: 1 });
    const jobs = [1, 2, 3].map(() =>
      p.seal(payload, czRing, profile).then(
        () => 'sealed',
        (e: AccordError) => e.code,
      ),
    );
    await p.close();
    const results = await Promise.all(jobs);
    expect(results).to.include('infra.unavailable');
    expect((await expectCode(p.seal(payload, czRing, profile))).code).to.equal('infra.unavailable');
  });

  it('runs inline with crypto.workers 0', async () => {
    const runner = cryptoRunner({ workers: 0, jobTimeoutMs: 1000 });
    expect(runner).to.equal(INLINE_CRYPTO);
    const jwe = await runner.seal(payload, czRing, profile, { urgent: true });
    expect((await runner.open(jwe, kzRing, profile)).payload.equals(payload)).to.equal(true);
  });
});
