/**
 * One idempotency key, one message: a case system that retries on a timeout may publish the same
 * submission several times at once, and the gateway must still seal, send and record it once.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import type { SubmissionInput } from '../src/client/index.js';
import { startPair, example, type Pair, type TestAuthority } from './helpers/harness.js';
import { TcpProxy } from '../scripts/chaos/tcp-proxy.js';

/** The Art. 10(6) records of a gateway's audit file, as parsed JSON lines. */
function auditLines(file: string): { type: string; messageId?: string }[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as { type: string; messageId?: string });
}

describe('outbound: one message per idempotency key', function () {
  this.timeout(60_000);
  let pair: Pair;
  let czIpc: TestAuthority;
  let kzNcb: TestAuthority;

  before(async () => {
    pair = await startPair();
    czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
    kzNcb = await pair.authority(pair.kzConfig, 'kz-ncb');
  });
  after(async () => {
    await pair.close();
  });

  it('sends one message for 20 concurrent submissions with one key; 19 are answered duplicate', async () => {
    const key = 'concurrent-1';
    const sub = example('travel-document', key) as SubmissionInput;
    const { kind, body, to } = sub as { kind: 'travel-document'; body: any; to: any };
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => czIpc.client.submit(kind, body, { to, idempotencyKey: key })),
    );
    const outcomes = answers.map((a) => a.outcome).sort();
    expect(outcomes.filter((o) => o === 'accepted')).to.have.length(1);
    expect(outcomes.filter((o) => o === 'duplicate')).to.have.length(19);
    const messageId = answers[0]!.messageId;
    await czIpc.events.waitFor((e) => e.type === 'delivered' && e.messageId === messageId, 20_000);
    // Anything sent twice would have arrived by now, as the first copy did.
    await new Promise((r) => setTimeout(r, 1500));
    expect(kzNcb.inbox.items.filter((d) => d.envelope.id === messageId)).to.have.length(1);
    const sent = czIpc.events.items.filter((e) => e.type === 'sent' && e.messageId === messageId);
    expect(sent).to.have.length(1);
    const provisions = auditLines(pair.czConfig.records.auditFile!).filter(
      (r) => r.type === 'provision' && r.messageId === messageId,
    );
    expect(provisions).to.have.length(1);
    // Only one copy crossed the link: the peer recorded one receipt, and had no duplicate to answer.
    const received = auditLines(pair.kzConfig.records.auditFile!).filter(
      (r) => r.type === 'receipt' && r.messageId === messageId,
    );
    expect(received).to.have.length(1);
    expect(pair.lines.filter((l) => l.includes('duplicate; receipt sent again'))).to.have.length(0);
  });
});

describe('outbound: a message whose first attempt failed after its claim is finished, once', function () {
  this.timeout(60_000);
  let pair: Pair;
  let proxy: TcpProxy;

  after(async () => {
    await pair.close();
    await proxy.close();
  });

  it('sends it when the peer is back; the same key submitted meanwhile is a duplicate', async () => {
    proxy = await new TcpProxy('127.0.0.1', 5672).start();
    pair = await startPair((raw) => {
      if (raw.party !== 'CZ') return;
      raw.peer.amqpUrl = proxy.url();
      raw.amqp.confirmTimeoutMs = 2000;
    });
    const czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
    const kzNcb = await pair.authority(pair.kzConfig, 'kz-ncb');
    const sub = example('travel-document', 'claimed-then-cut') as SubmissionInput;
    const { kind, body, to } = sub as { kind: 'travel-document'; body: any; to: any };
    // The peer hangs: the link stays up, so the gateway takes the submission, but its publish goes
    // unconfirmed. (A link that drops makes the gateway leave the outbox alone until it is back.)
    proxy.stall();
    // Claimed and accepted; the publish to the peer fails and the broker redelivers the submission.
    const first = await czIpc.client.submit(kind, body, { to, idempotencyKey: 'claimed-then-cut' });
    expect(first.outcome).to.equal('accepted');
    const again = await czIpc.client.submit(kind, body, { to, idempotencyKey: 'claimed-then-cut' });
    expect(again).to.include({ outcome: 'duplicate', messageId: first.messageId });
    // The first attempt took the claim and failed at the publish: the submission waits on the outbox.
    await new Promise((r) => setTimeout(r, 2500));
    expect(pair.lines.join('')).to.include('infrastructure unavailable; the message waits');
    proxy.unstall();
    await czIpc.events.waitFor((e) => e.type === 'delivered' && e.messageId === first.messageId, 30_000);
    await new Promise((r) => setTimeout(r, 1500));
    expect(kzNcb.inbox.items.filter((d) => d.envelope.id === first.messageId)).to.have.length(1);
    expect(
      czIpc.events.items.filter((e) => e.type === 'sent' && e.messageId === first.messageId),
    ).to.have.length(1);
    const provisions = auditLines(pair.czConfig.records.auditFile!).filter(
      (r) => r.type === 'provision' && r.messageId === first.messageId,
    );
    expect(provisions).to.have.length(1);
  });
});
