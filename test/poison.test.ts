import { expect } from 'chai';
import { Redis } from 'ioredis';
import { names } from '../src/config.js';
import {
  REDIS_URL,
  startPair,
  suspensionNotice,
  waitForDeadLetter,
  type Pair,
  type TestAuthority,
} from './helpers/harness.js';

/**
 * A submission parked as `delivery.poison` was never sent; the case system, told nothing, submits the
 * same idempotency key again. That must send the message, not answer `duplicate` for one that does not
 * exist: the parked attempt gives its sending claim back.
 */
describe('consumers: a submission parked as poison', () => {
  let pair: Pair;
  let kzMia: TestAuthority;
  let czIpc: TestAuthority;
  let redis: Redis;

  before(async () => {
    pair = await startPair((raw) => {
      raw.treaty = { notifyingAuthorities: [raw.party === 'KZ' ? 'kz-mia' : 'cz-pp-ipc'] };
      raw.delivery = { ...(raw.delivery ?? {}), poisonAttempts: 2 };
    });
    kzMia = await pair.authority(pair.kzConfig, 'kz-mia');
    czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
    redis = new Redis(REDIS_URL);
  });
  after(async () => {
    redis.disconnect();
    await pair.close();
  });

  it('gives back its sending claim, so the same key submitted again is sent, not answered duplicate', async function () {
    this.timeout(40_000);
    // The Art. 17 notice is recorded before it is sent; a key of the wrong type makes that fail the
    // same way on every attempt (Redis WRONGTYPE: not an outage), so the submission is parked.
    const suspensions = `${names(pair.kzConfig.namespace).redisPrefix}treaty:suspensions`;
    await redis.set(suspensions, 'not a hash');
    const { messageId } = await kzMia.client.submit(suspensionNotice('poison-1'));
    const letter = await waitForDeadLetter(
      names(pair.kzConfig.namespace).dlq,
      (l) => l.code === 'delivery.poison',
      [],
      20_000,
    );
    expect(letter).to.include({ source: 'outbox', code: 'delivery.poison' });

    await redis.del(suspensions);
    await kzMia.client.submit(suspensionNotice('poison-1'));
    const answer = await kzMia.events.waitFor(
      (e) => e.messageId === messageId && (e.type === 'sent' || e.type === 'duplicate'),
      15_000,
      'the second submission’s answer',
    );
    expect(answer.type).to.equal('sent');
    await czIpc.inbox.waitFor((d) => d.envelope.id === messageId, 15_000, 'the notice at CZ');
  });
});
