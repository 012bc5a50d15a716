/**
 * The case-system client (`accord-gateway/client`): a submission by kind resolves with the gateway's
 * answer — accepted, duplicate, or rejected with its code and field path — read from the events queue,
 * which the client shares with the case system's own event handler.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CaseSystemClient, type StatusEvent } from '../src/client/index.js';
import { AMQP_URL, ROOT, startPair, type Pair } from './helpers/harness.js';
import { expectCode } from './helpers/expect-code.js';

/** The body of the example travel-document submission. */
function body(): { documents: { number: string; type: 'passport'; status: 'lost' }[] } {
  const file = join(ROOT, 'examples', 'messages', 'travel-document.json');
  return (JSON.parse(readFileSync(file, 'utf8')) as { body: ReturnType<typeof body> }).body;
}

describe('client: submit(kind, body, options) resolves with the gateway’s answer', function () {
  this.timeout(60_000);
  let pair: Pair;
  let client: CaseSystemClient;
  const seen: StatusEvent[] = [];

  before(async () => {
    pair = await startPair();
    client = await CaseSystemClient.connect({
      url: AMQP_URL,
      party: 'CZ',
      authority: 'cz-pp-ipc',
      namespace: pair.czConfig.namespace!,
    });
    await client.onEvent((e) => {
      seen.push(e);
    });
  });
  after(async () => {
    await client.close();
    await pair.close();
  });

  it('accepted (its answer is `sent`), then duplicate for the same idempotency key; the handler sees every event', async () => {
    const to = { party: 'KZ' as const, authority: 'kz-ncb' };
    const first = await client.submit('travel-document', body(), { to, idempotencyKey: 'client-1' });
    expect(first.outcome).to.equal('accepted');
    // The same key again is answered as a duplicate (as soon as the first took its sending claim).
    while (!seen.some((e) => e.type === 'sent' && e.messageId === first.messageId)) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const again = await client.submit('travel-document', body(), { to, idempotencyKey: 'client-1' });
    expect(again).to.include({ outcome: 'duplicate', messageId: first.messageId });
    while (!seen.some((e) => e.type === 'delivered' && e.messageId === first.messageId)) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const told = seen.filter((e) => e.idempotencyKey === 'client-1').map((e) => e.type);
    expect(told).to.include.members(['sent', 'duplicate', 'delivered']);
    // Sent at once: no `accepted` before the `sent` (one broker message less per message).
    expect(told).to.not.include('accepted');
  });

  it('rejected, with the code and the field path', async () => {
    const result = await client.submit('travel-document', body(), {
      to: { party: 'KZ', authority: 'kz-nobody' },
      idempotencyKey: 'client-2',
    });
    expect(result).to.deep.include({
      outcome: 'rejected',
      code: 'auth.unknown_recipient',
      path: 'to.authority',
    });
  });

  it('checks the submission against the schema before it leaves the process', async () => {
    await expectCode(
      client.submit('travel-document', { documents: [{ number: 'X' }] } as any, {
        to: { party: 'KZ', authority: 'kz-ncb' },
        idempotencyKey: 'client-3',
      }),
      'schema.invalid',
    );
  });

  it('names a wrong namespace at connect, and an authority without an inbox, instead of a raw AMQP 404', async () => {
    const err = await expectCode(
      CaseSystemClient.connect({
        url: AMQP_URL,
        party: 'CZ',
        authority: 'cz-pp-ipc',
        namespace: `${pair.czConfig.namespace!}-typo`,
      }),
      'config.invalid',
    );
    expect(err.message).to.contain(`namespace '${pair.czConfig.namespace!}-typo'`);
    expect((err as { path?: string }).path).to.equal('namespace');
    const stranger = await CaseSystemClient.connect({
      url: AMQP_URL,
      party: 'CZ',
      authority: 'cz-nobody',
      namespace: pair.czConfig.namespace!,
    });
    try {
      const e = await expectCode(
        stranger.onInbox(() => undefined),
        'auth.unknown_authority',
      );
      expect(e.message).to.contain('cz-nobody');
    } finally {
      await stranger.close();
    }
    // The client beside it is unharmed: its connection was never lost to a 404.
    const r = await client.submit(
      'request',
      {
        crimeCategories: ['forgery'],
        informationTypes: ['travel-documents'],
        assistanceTypes: ['search-objects'],
        summary: 'after a wrong namespace',
      },
      { to: { party: 'KZ', authority: 'kz-mia' }, idempotencyKey: 'client-ns-after' },
    );
    expect(r.outcome).to.equal('accepted');
  });
});
