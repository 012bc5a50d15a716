import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import jose from 'node-jose';
import {
  AuditLog,
  exportAudit,
  heldByLiveWriter,
  recordHash,
  verifyAuditFile,
  type CheckpointVerifier,
} from '../src/audit/log.js';
import { tempDir } from './helpers/temp.js';

/** A real ES256 JWS signer/verifier pair, so checkpoint signatures are checked for real. */
async function signerPair(): Promise<{
  sign: (p: Buffer) => Promise<string>;
  verify: CheckpointVerifier;
}> {
  const ks = jose.JWK.createKeyStore();
  const key = await ks.generate('EC', 'P-256', { alg: 'ES256', use: 'sig' });
  return {
    sign: async (p) =>
      (await jose.JWS.createSign({ format: 'compact' }, key).update(p).final()) as unknown as string,
    verify: async (jws) => (await jose.JWS.createVerify(ks).verify(jws)).payload,
  };
}

describe('audit log (Art. 10(6))', () => {
  let file: string;
  let keys: Awaited<ReturnType<typeof signerPair>>;
  let t = Date.parse('2026-01-10T10:00:00Z');
  const now = (): Date => new Date((t += 60_000));

  beforeEach(async () => {
    file = join(tempDir('audit'), 'cz.audit.jsonl');
    keys = await signerPair();
    const log = await AuditLog.open({ file, now, signer: keys.sign, checkpointEvery: 3 });
    // many concurrent appends: group commit must keep the chain in order
    await Promise.all([
      log.append({
        type: 'provision',
        messageId: 'm1',
        kind: 'request',
        purposes: ['prevention'],
        categories: ['theft'],
        subjectCount: 2,
        fromAuthority: 'CZ-A',
        toAuthority: 'KZ-B',
      }),
      log.append({ type: 'receipt', messageId: 'm1', anchor: 'a'.repeat(64) }),
      log.append({ type: 'refusal', messageId: 'm2', reason: 'Art. 9(4)(a)' }),
      log.append({ type: 'consent', messageId: 'm3' }),
      log.append({ type: 'suspension', reason: 'Art. 17' }),
    ]);
    expect(log.latestCheckpointHash()).to.match(/^[0-9a-f]{64}$/);
    await log.close();
  });

  const lines = (): string[] =>
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l !== '');
  const rewrite = (ls: string[]): void => writeFileSync(file, ls.map((l) => `${l}\n`).join(''));

  it('writes a hash-chained log with signed checkpoints that verifies', async () => {
    const res = await verifyAuditFile(file, keys.verify);
    const checkpoint = JSON.parse(lines()[3]!) as { type: string; hash: string };
    expect(checkpoint.type).to.equal('checkpoint');
    expect(res).to.deep.equal({ ok: true, records: 6, checkpoints: 1, checkpointHashes: [checkpoint.hash] });
  });

  it('resumes the chain after reopening and refuses a second writer', async () => {
    const a = await AuditLog.open({ file, now, checkpointEvery: 100 });
    let refused = false;
    await AuditLog.open({ file, now, checkpointEvery: 100 }).catch(() => (refused = true));
    expect(refused).to.equal(true);
    await a.append({ type: 'destruction', messageId: 'm1' });
    await a.close();
    expect((await verifyAuditFile(file, keys.verify)).ok).to.equal(true);
  });

  it('names the first modified record', async () => {
    const ls = lines();
    ls[2] = ls[2]!.replace('Art. 9(4)(a)', 'Art. 9(4)(b)');
    rewrite(ls);
    const res = await verifyAuditFile(file, keys.verify);
    expect(res).to.include({ ok: false, badSeq: 2 });
  });

  it('names a deleted record', async () => {
    const ls = lines();
    ls.splice(1, 1);
    rewrite(ls);
    expect(await verifyAuditFile(file, keys.verify)).to.include({ ok: false, badSeq: 1 });
  });

  it('names reordered records', async () => {
    const ls = lines();
    [ls[0], ls[1]] = [ls[1]!, ls[0]!];
    rewrite(ls);
    expect(await verifyAuditFile(file, keys.verify)).to.include({ ok: false, badSeq: 0 });
  });

  it('names a truncated record', async () => {
    const raw = readFileSync(file, 'utf8');
    writeFileSync(file, raw.slice(0, raw.length - 20));
    expect(await verifyAuditFile(file, keys.verify)).to.include({ ok: false, badSeq: 5 });
  });

  it('catches a forged checkpoint signature', async () => {
    const other = await signerPair();
    const ls = lines();
    const cp = JSON.parse(ls[3]!) as Record<string, unknown>;
    // An attacker who rewrites the chain can recompute every hash but cannot sign with our key.
    const { hash: _h, ...body } = cp;
    void _h;
    body.signature = await other.sign(
      Buffer.from(JSON.stringify({ seq: 2, hash: cp.prevHash, time: cp.time })),
    );
    const forged = { ...body, hash: recordHash(body as Parameters<typeof recordHash>[0]) };
    ls[3] = JSON.stringify(forged);
    // re-link the following records so only the signature is wrong
    let prev = forged.hash;
    for (let i = 4; i < ls.length; i++) {
      const { hash: _x, ...b } = JSON.parse(ls[i]!) as Record<string, unknown>;
      void _x;
      b.prevHash = prev;
      prev = recordHash(b as Parameters<typeof recordHash>[0]);
      ls[i] = JSON.stringify({ ...b, hash: prev });
    }
    rewrite(ls);
    const res = await verifyAuditFile(file, keys.verify);
    expect(res).to.include({ ok: false, badSeq: 3, problem: 'checkpoint signature does not verify' });
    // without the signature check the rewritten chain would pass: the signature is what catches it
    expect((await verifyAuditFile(file)).ok).to.equal(true);
  });

  it('exports by date in csv and json', async () => {
    const all = lines().map((l) => JSON.parse(l) as { time: string });
    const from = new Date(all[1]!.time);
    const to = new Date(all[2]!.time);
    const exported = async (format: 'csv' | 'json') => {
      let text = '';
      const sink = { write: (s: string) => ((text += s), true), once: () => undefined };
      await exportAudit(file, from, to, format, sink, { verify: true, verifier: keys.verify });
      return text;
    };
    const json = JSON.parse(await exported('json')) as unknown[];
    expect(json).to.have.length(2);
    const csv = (await exported('csv')).trim().split('\n');
    expect(csv).to.have.length(3);
    expect(csv[0]).to.match(/^seq,time,type/);
    expect(csv[2]).to.contain('refusal');
  });

  it('refuses a second writer while the first runs, and takes over the lock of a process that died', async () => {
    const first = await AuditLog.open({ file, now, checkpointEvery: 100 });
    let refused: unknown;
    await AuditLog.open({ file, now, checkpointEvery: 100 }).catch((e: unknown) => (refused = e));
    expect((refused as Error)?.message).to.match(/held by another writer/);
    await first.close();
    // A crash leaves the lock behind, naming a process that no longer runs.
    const child = spawn(process.execPath, ['-e', '']);
    const deadPid = child.pid!;
    await new Promise((r) => child.once('exit', r));
    writeFileSync(`${file}.lock`, String(deadPid));
    const after = await AuditLog.open({ file, now, checkpointEvery: 100 });
    await after.append({ type: 'suspension', reason: 'after a crash' });
    await after.close();
    expect((await verifyAuditFile(file, keys.verify)).ok).to.equal(true);
  });

  it('on a log its writer still holds, leaves a line being written for the next check', async () => {
    const complete = lines();
    writeFileSync(file, `${complete.join('\n')}\n${complete[0]!.slice(0, 30)}`);
    expect((await verifyAuditFile(file, keys.verify)).problem).to.equal('truncated record');
    const live = await verifyAuditFile(file, keys.verify, { live: true });
    expect(live).to.include({ ok: true, records: complete.length });
    // Whether a writer holds it: a running process named in the lock, not a dead one.
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 10000)']);
    try {
      writeFileSync(`${file}.lock`, String(child.pid));
      expect(heldByLiveWriter(file)).to.equal(true);
    } finally {
      child.kill();
      await new Promise((r) => child.once('exit', r));
    }
    expect(heldByLiveWriter(file)).to.equal(false);
  });
});
