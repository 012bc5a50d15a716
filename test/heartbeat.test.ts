/**
 * kinds/heartbeat: the gateways' liveness message. It is signed and checked like any message between
 * them, leaves no record, receipt or delivery behind, and a peer of a version without heartbeats (no
 * route for them on its broker) never sees one.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { auditFileOf } from '../src/audit/log.js';
import { names } from '../src/config.js';
import {
  AMQP_URL,
  REDIS_URL,
  eventually,
  publishRaw,
  sealAsCz,
  startPair,
  testEnvelope,
  waitForDeadLetter,
  type Pair,
} from './helpers/harness.js';

describe('kinds/heartbeat: gateway liveness', function () {
  this.timeout(60_000);
  let pair: Pair;
  let redis: Redis;

  before(async () => {
    pair = await startPair((raw) => {
      raw.alerts = { heartbeatIntervalS: 1, peerSilentAfterS: 3 };
    });
    redis = new Redis(REDIS_URL);
  });
  after(async () => {
    redis.disconnect();
    await pair.close();
  });

  const heardBy = (party: 'cz' | 'kz') => async () => {
    const config = party === 'cz' ? pair.czConfig : pair.kzConfig;
    const key = `${names(config.namespace).redisPrefix}peer:last-heard`;
    return (await redis.get(key)) ?? undefined;
  };

  it('is heard by the peer gateway, and leaves no record, receipt, delivery or dead letter', async () => {
    await eventually(heardBy('cz'), 20_000, 'CZ hearing KZ');
    await eventually(heardBy('kz'), 20_000, 'KZ hearing CZ');
    for (const config of [pair.czConfig, pair.kzConfig]) {
      const n = names(config.namespace);
      // Nothing kept: no sent record to resend from, no audit record, nothing in a queue.
      const audit = readFileSync(auditFileOf(config), 'utf8');
      expect(audit).not.to.contain('heartbeat');
      const conn = await amqp.connect(AMQP_URL);
      try {
        const ch = await conn.createChannel();
        for (const q of [n.dlq, ...config.authorities.map((a) => n.inbox(a.id))]) {
          expect((await ch.checkQueue(q)).messageCount, q).to.equal(0);
        }
      } finally {
        await conn.close();
      }
      const sent = await redis.keys(`${n.redisPrefix}sent:*`);
      expect(sent, 'sent records').to.deep.equal([]);
    }
  });

  it('is checked against its strict schema: one with an unknown field is parked', async () => {
    const env = testEnvelope({
      kind: 'heartbeat',
      from: { party: 'KZ', authority: 'kz-mia' },
      to: { party: 'CZ', authority: 'cz-pp-ipc' },
      handling: { purposes: [], conditions: [], sensitive: [] },
      body: { intervalS: 1, note: 'anything' },
    });
    await publishRaw(names(pair.czConfig.namespace).ingress, await sealAsCz(pair.kzConfig, env));
    const letter = await waitForDeadLetter(names(pair.czConfig.namespace).dlq, (l) => l.messageId === env.id);
    expect(letter.code).to.equal('schema.invalid');
  });

  it('never reaches a peer of a version without heartbeats: its broker has no route for them', async () => {
    // KZ as an older version declares it: the peer exchange is bound to the ingress by its name only.
    const kz = names(pair.kzConfig.namespace);
    const conn = await amqp.connect(AMQP_URL);
    try {
      const ch = await conn.createChannel();
      await ch.unbindQueue(kz.ingress, kz.peerExchange, kz.heartbeatRoute);
      // Nor does such a version read transfers (wire version 2), whose route carries heartbeats first.
      await ch.unbindQueue(kz.ingress, kz.peerExchange, kz.transferRoute);
      const said = (l: string) => l.includes('"gw":"CZ"') && l.includes('no route for heartbeats');
      await eventually(
        () => Promise.resolve(pair.lines.some(said) ? true : undefined),
        20_000,
        'CZ noticing',
      );
      // The broker returned it to CZ (mandatory publish): nothing of it reached KZ's gateway, nothing
      // was parked there, and CZ's peer link stayed up; CZ said so once, not every second.
      expect((await ch.checkQueue(kz.dlq)).messageCount).to.equal(0);
      expect(pair.lines.filter(said)).to.have.length(1);
      expect(
        pair.lines.some((l) => l.includes('"gw":"CZ"') && l.includes('broker connection lost')),
      ).to.equal(false);
    } finally {
      await conn.close();
    }
  });
});
