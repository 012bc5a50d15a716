/**
 * Art. 10(6) on a full disk: the audit log fails closed. No message is acked without its record, the
 * gateway says so (/readyz, one alert), and once space returns it resumes with nothing lost and the
 * hash chain intact. Runs on a size-limited tmpfs, which needs root (CI runs as root); elsewhere the
 * tests are skipped with a line saying why.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statfsSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog, verifyAuditFile, type AuditRecord } from '../src/audit/log.js';
import type { SubmissionInput } from '../src/client/index.js';
import { AccordError } from '../src/errors.js';
import {
  eventually,
  example,
  learnsV2,
  startPair,
  type Pair,
  type TestAuthority,
} from './helpers/harness.js';

/** A tmpfs of `size` mounted on a new folder, or undefined when this process may not mount. */
function smallDisk(size: string): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'accord-fulldisk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
    return dir;
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
}

/** One party's audit file on `disk`, in a folder made for it. */
function auditFileOn(disk: string, party: 'cz' | 'kz'): string {
  mkdirSync(join(disk, 'audit'));
  return join(disk, 'audit', `${party}.jsonl`);
}

function unmount(dir: string): void {
  // Lazy: a handle a failed test left open must not keep the mount (and the test's real error) hidden.
  execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true });
}

/** Fill the disk holding `dir` to the last byte with a file of its own; returns that file. */
function fill(dir: string): string {
  const file = join(dir, 'filler');
  const fd = openSync(file, 'a');
  const chunk = Buffer.alloc(4096, 0x2e);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    closeSync(fd);
  }
  expect(statfsSync(dir).bavail).to.equal(0);
  return file;
}

/** The records of a log; a last line still being written by a running gateway is left out. */
function records(file: string): AuditRecord[] {
  const text = readFileSync(file, 'utf8');
  const complete = text.endsWith('\n') ? text : text.slice(0, text.lastIndexOf('\n') + 1);
  return complete
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as AuditRecord);
}

describe('audit log on a full disk (Art. 10(6))', function () {
  this.timeout(120_000);

  it('refuses records while the disk is full, with infra.audit_unwritable, and keeps the chain intact for what follows', async function () {
    const disk = smallDisk('256k');
    if (disk === undefined) return this.skip(); // mounting a tmpfs needs root
    try {
      const file = join(disk, 'audit', 'cz.jsonl');
      let t = Date.parse('2026-01-10T10:00:00Z');
      const unwritable: string[] = [];
      let writableAgain = 0;
      const log = await AuditLog.open({
        file,
        now: () => new Date((t += 1000)),
        checkpointEvery: 1000,
        onUnwritable: (r) => unwritable.push(r),
        onWritable: () => writableAgain++,
      });
      const record = (i: number) =>
        log.append({ type: 'provision', messageId: `m${i}`, kind: 'request', reason: 'x'.repeat(400) });
      await record(0);
      const filler = fill(disk);

      // Write until the disk refuses: the file's last page takes a few records first.
      const written: number[] = [0];
      let failure: unknown;
      for (let i = 1; i < 100 && failure === undefined; i++) {
        try {
          await record(i);
          written.push(i);
        } catch (err) {
          failure = err;
        }
      }
      expect(failure, 'a write the full disk refused').to.be.instanceOf(AccordError);
      expect((failure as AccordError).code).to.equal('infra.audit_unwritable');
      // Several refused appends, one alert; the file holds complete records only, and verifies.
      const refused = await Promise.allSettled([record(200), record(201), record(202)]);
      expect(refused.map((r) => r.status)).to.deep.equal(['rejected', 'rejected', 'rejected']);
      expect(unwritable).to.deep.equal(['ENOSPC']);
      expect(await log.unwritable()).to.contain('ENOSPC');
      const during = await verifyAuditFile(file);
      expect(during.ok, during.problem).to.equal(true);

      // Space returns: the next records continue the chain, and the whole file verifies.
      rmSync(filler);
      await record(300);
      await record(301);
      expect(writableAgain).to.equal(1);
      expect(await log.unwritable()).to.equal(undefined);
      await log.close();
      const result = await verifyAuditFile(file);
      expect(result.ok, result.problem).to.equal(true);
      const ids = records(file).map((r) => r.messageId);
      expect(ids).to.deep.equal([...written.map((i) => `m${i}`), 'm300', 'm301']);
      expect(records(file).map((r) => r.seq)).to.deep.equal(ids.map((_, i) => i));
    } finally {
      unmount(disk);
    }
  });

  // Transfers (wire version 2): the members' records are fsync'ed together before the transfer commits.
  describe('a receiving gateway whose audit disk fills up while transfers come in', () => {
    let disk: string | undefined;
    let pair: Pair;
    let czIpc: TestAuthority;
    let kzMia: TestAuthority;
    let auditFile: string;

    before(async function () {
      disk = smallDisk('512k');
      if (disk === undefined) return this.skip(); // mounting a tmpfs needs root
      auditFile = auditFileOn(disk, 'kz');
      pair = await startPair((raw) => {
        raw.transfers = { maxWaitMs: 50 };
        if (raw.party === 'KZ') raw.records = { auditFile };
      });
      czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
      kzMia = await pair.authority(pair.kzConfig, 'kz-mia');
      const first = await czIpc.client.submit(example('request', 'kzfull-first') as SubmissionInput);
      await czIpc.events.waitFor((e) => e.type === 'delivered' && e.messageId === first.messageId, 20_000);
      await learnsV2(pair.cz);
    });
    after(async () => {
      if (disk === undefined) return;
      await pair?.close();
      unmount(disk);
    });

    it('delivers no member without its record, and every member once when space returns', async () => {
      const filler = fill(disk!);
      const ids = await Promise.all(
        Array.from({ length: 24 }, (_, i) =>
          czIpc.client.submit(example('request', `kzfull-${i}`) as SubmissionInput).then((r) => r.messageId),
        ),
      );
      await eventually(
        () =>
          Promise.resolve(pair.lines.some((l) => l.includes('alert.audit_unwritable')) ? true : undefined),
        30_000,
        'KZ to find its audit log unwritable',
      );
      await new Promise((r) => setTimeout(r, 1000));
      // Whatever reached the inbox while the disk was full has its record.
      const recorded = new Set(records(auditFile).map((r) => r.messageId));
      const early = kzMia.inbox.items.filter((d) => ids.includes(d.envelope.id));
      expect(early.length, 'not everything got through').to.be.below(ids.length);
      for (const d of early)
        expect(recorded.has(d.envelope.id), `record for ${d.envelope.id}`).to.equal(true);

      rmSync(filler);
      for (const id of ids) {
        await czIpc.events.waitFor(
          (e) => e.type === 'delivered' && e.messageId === id,
          60_000,
          `delivered ${id}`,
        );
      }
      for (const id of ids) {
        expect(
          kzMia.inbox.items.filter((d) => d.envelope.id === id),
          id,
        ).to.have.length(1);
      }
      expect(
        kzMia.inbox.items.filter((d) => ids.includes(d.envelope.id) && d.verification.transfer !== undefined)
          .length,
        'they came in transfers',
      ).to.be.above(0);
      const verified = await verifyAuditFile(auditFile, undefined, { live: true });
      expect(verified.ok || verified.chainIntact === true, verified.problem).to.equal(true);
    });
  });

  describe('a gateway whose audit disk fills up', () => {
    const TOKEN = 'test-only-admin-token-fulldisk-0123456789';
    let disk: string | undefined;
    let pair: Pair;
    let czIpc: TestAuthority;
    let kzMia: TestAuthority;
    let auditFile: string;

    before(async function () {
      disk = smallDisk('512k');
      if (disk === undefined) return this.skip(); // mounting a tmpfs needs root
      auditFile = auditFileOn(disk, 'cz');
      process.env.ACCORD_TEST_FULLDISK_TOKEN = TOKEN;
      pair = await startPair((raw) => {
        if (raw.party !== 'CZ') return;
        raw.records = { auditFile };
        raw.admin = { port: 0, tokenEnv: 'ACCORD_TEST_FULLDISK_TOKEN' };
      });
      czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
      kzMia = await pair.authority(pair.kzConfig, 'kz-mia');
    });
    after(async () => {
      if (disk === undefined) return;
      await pair?.close();
      unmount(disk);
    });

    const readyz = async () => {
      const { address, port } = pair.cz.adminAddress!;
      const res = await fetch(`http://${address}:${port}/readyz`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      return { status: res.status, body: (await res.json()) as { checks: Record<string, string> } };
    };

    it('acks nothing without its record, says so, and sends every message once when space returns', async () => {
      const filler = fill(disk!);
      const ids: string[] = [];
      for (let i = 0; i < 12; i++) {
        ids.push(
          (await czIpc.client.submit(example('request', `fulldisk-${i}`) as SubmissionInput)).messageId,
        );
      }
      // Some fit in the audit file's last page; the rest wait, unacked, for their records.
      const ready = await eventually(
        async () => {
          const r = await readyz();
          return r.status === 503 ? r : undefined;
        },
        30_000,
        'readiness to fail',
      );
      expect(ready.body.checks['audit-log']).to.contain('ENOSPC');
      const alerts = pair.lines.filter((l) => l.includes('"alert":"alert.audit_unwritable"'));
      expect(alerts, 'one alert for the spell').to.have.length(1);
      const sentWhileFull = () => czIpc.events.items.filter((e) => e.type === 'sent').length;
      expect(sentWhileFull()).to.be.below(12);
      // What was sent while the disk was full has its record: no `sent` without a provision line.
      const recorded = new Set(records(auditFile).map((r) => r.messageId));
      for (const e of czIpc.events.items.filter((x) => x.type === 'sent')) {
        expect(recorded.has(e.messageId), `record for ${e.messageId}`).to.equal(true);
      }

      rmSync(filler);
      for (const id of ids) {
        await czIpc.events.waitFor((e) => e.type === 'sent' && e.messageId === id, 30_000, `sent ${id}`);
        await kzMia.inbox.waitFor((d) => d.envelope.id === id, 30_000, `delivered ${id}`);
      }
      expect((await readyz()).status).to.equal(200);
      // Each message once at the peer, one `sent` each, none parked as poison.
      for (const id of ids) {
        expect(kzMia.inbox.items.filter((d) => d.envelope.id === id)).to.have.length(1);
        expect(czIpc.events.items.filter((e) => e.type === 'sent' && e.messageId === id)).to.have.length(1);
      }
      expect(pair.lines.filter((l) => l.includes('delivery.poison'))).to.deep.equal([]);
      // One provision record per message, in an intact chain.
      const provisions = records(auditFile).filter(
        (r) => r.type === 'provision' && ids.includes(r.messageId!),
      );
      expect(provisions.map((r) => r.messageId).sort()).to.deep.equal([...ids].sort());
      const verified = await verifyAuditFile(auditFile, undefined, { live: true });
      expect(verified.ok || verified.chainIntact === true, verified.problem).to.equal(true);
    });
  });
});
