/**
 * Art. 13(1): "The Contracting Parties shall notify each other … of the competent authorities". The
 * peer's in-band `directory-update` applies only once an operator approves it; until then the old
 * directory holds, in both directions.
 */
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import type { SubmissionInput } from '../src/client/index.js';
import { names } from '../src/config.js';
import {
  eventually,
  example,
  publishRaw,
  sealAsCz,
  startPair,
  testEnvelope,
  waitForDeadLetter,
  type Pair,
  type TestAuthority,
  configFileFor,
  runCli,
} from './helpers/harness.js';

const cli = (...args: string[]) => runCli(args);

describe('Art. 13: an in-band directory update applies once an operator approves it', function () {
  this.timeout(60_000);
  let pair: Pair;
  let czIpc: TestAuthority;
  let czNdh: TestAuthority;
  let kzMia: TestAuthority;
  const dlq: Record<string, unknown>[] = [];

  before(async () => {
    pair = await startPair((raw) => {
      if (raw.party === 'CZ') raw.treaty = { notifyingAuthorities: ['cz-pp-ipc'] };
    });
    czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
    czNdh = await pair.authority(pair.czConfig, 'cz-ndh');
    kzMia = await pair.authority(pair.kzConfig, 'kz-mia');
  });
  after(async () => {
    await pair.close();
  });

  /** A travel-document message from CZ's new authority, sealed with CZ's keys, straight to KZ's ingress. */
  async function fromNewAuthority(): Promise<string> {
    const env = testEnvelope({ from: { party: 'CZ', authority: 'cz-nctc' } });
    await publishRaw(names(pair.kzConfig.namespace).ingress, await sealAsCz(pair.czConfig, env));
    return env.id as string;
  }

  it('only a notifying authority may announce a directory', async () => {
    const sub = example('directory-update', 'dir-by-ndh');
    sub.from = 'cz-ndh';
    await czNdh.client.submit(sub as SubmissionInput);
    const ev = await czNdh.events.waitFor((e) => e.idempotencyKey === 'dir-by-ndh', 10_000, 'rejection');
    expect(ev).to.include({ type: 'rejected', code: 'treaty.not_notifying_authority', path: 'from' });
  });

  it('holds the old directory until approval, then applies the new one at the running gateway', async () => {
    const kzDlq = names(pair.kzConfig.namespace).dlq;
    // Before: CZ's new authority is unknown to KZ, both ways.
    const early = await fromNewAuthority();
    expect((await waitForDeadLetter(kzDlq, (l) => l.messageId === early, dlq)).code).to.equal(
      'auth.unknown_authority',
    );

    const { messageId: updateId } = await czIpc.client.submit(
      example('directory-update', 'dir-1') as SubmissionInput,
    );
    const delivered = await kzMia.inbox.waitFor((d) => d.envelope.id === updateId, 10_000, 'the update');
    expect(delivered.envelope.kind).to.equal('directory-update');
    await eventually(
      () => Promise.resolve(pair.lines.some((l) => l.includes('directory.update_pending')) || undefined),
      10_000,
      'the pending-update warning',
    );

    // Received but not approved: the old directory still holds.
    const stillEarly = await fromNewAuthority();
    expect((await waitForDeadLetter(kzDlq, (l) => l.messageId === stillEarly, dlq)).code).to.equal(
      'auth.unknown_authority',
    );
    const toNew = example('request', 'to-nctc-1');
    toNew.from = 'kz-mia';
    toNew.to = { party: 'CZ', authority: 'cz-nctc' };
    await kzMia.client.submit(toNew as SubmissionInput);
    const rejected = await kzMia.events.waitFor((e) => e.idempotencyKey === 'to-nctc-1', 10_000, 'rejection');
    expect(rejected).to.include({ type: 'rejected', code: 'auth.unknown_recipient', path: 'to.authority' });

    // The operator sees what it changes, and approves it.
    const file = configFileFor(pair.kzConfig);
    const pending = await cli('directory', 'pending', '--config', file);
    expect(pending.code).to.equal(0);
    expect(pending.stdout).to.contain(updateId).and.to.contain('adds: cz-nctc; removes: -');
    const wrong = await cli(
      'directory',
      'approve',
      '00000000-0000-4000-8000-000000000000',
      '--config',
      file,
      '--by',
      'x',
    );
    expect(wrong.code).to.equal(1);
    expect(wrong.stderr).to.contain('directory.unknown_update');
    const approve = await cli('directory', 'approve', updateId, '--config', file, '--by', 'duty admin');
    expect(approve.code, approve.stderr).to.equal(0);
    expect(approve.stdout).to.contain('cz-nctc');
    const show = await cli('directory', 'show', '--config', file);
    expect(show.stdout).to.contain(`update ${updateId}`).and.to.contain('cz-nctc');
    expect((await cli('directory', 'pending', '--config', file)).stdout).to.contain('no pending');
    // The approval is in KZ's audit log (Art. 10(6)), with who approved it.
    await eventually(
      async () =>
        (await readFile(pair.kzConfig.records.auditFile!, 'utf8'))
          .split('\n')
          .find((l) => l.includes('"type":"directory"') && l.includes(updateId) && l.includes('duty admin')),
      10_000,
      'the approval record',
    );

    // After: the running gateway takes messages from the new authority and lets its authorities write to it.
    await eventually(
      async () => {
        const id = await fromNewAuthority();
        const got = await kzMia.inbox
          .waitFor((d) => d.envelope.id === id, 2_000, 'delivery')
          .catch(() => undefined);
        return got;
      },
      20_000,
      'a delivery from the newly approved authority',
    );
    const toNewAgain = example('request', 'to-nctc-2');
    toNewAgain.from = 'kz-mia';
    toNewAgain.to = { party: 'CZ', authority: 'cz-nctc' };
    await kzMia.client.submit(toNewAgain as SubmissionInput);
    await kzMia.events.waitFor((e) => e.idempotencyKey === 'to-nctc-2' && e.type === 'sent', 10_000, 'sent');
  });
});
