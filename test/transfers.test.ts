/**
 * Wire version 2 between two live gateways (docs/protocol.md "Transfers"): messages ready together go
 * in one transfer under one signature, each delivered once with evidence that verifies on its own; the
 * receipts come back as one transfer; the urgent lane never waits for one; and a gateway that does not
 * read transfers (an older version, or one with `transfers.read` off) gets single messages, from the
 * start or from the moment it stops reading them.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import * as jose from 'jose';
import type { SubmissionInput } from '../src/client/index.js';
import { leafHash, verifyInclusion } from '../src/crypto/merkle.js';
import { Gateway } from '../src/gateway.js';
import { KeyRing } from '../src/crypto/keyring.js';
import { sealTransfer } from '../src/crypto/seal.js';
import {
  authority,
  drainMessages,
  publishRaw,
  sealAsCz,
  testEnvelope,
  learnsV2,
  REDIS_URL,
  waitForDeadLetter,
  example,
  memoryLogger,
  pairConfigs,
  removeNamespace,
  startPair,
  uniqueStem,
  type Pair,
} from './helpers/harness.js';
import { names, type Config } from '../src/config.js';
import { Redis } from 'ioredis';

function request(key: string, priority: 'normal' | 'urgent' = 'normal'): SubmissionInput {
  const r = example('request', key) as SubmissionInput & { priority?: string };
  r.priority = priority;
  return r;
}

/** The CZ gateway's public signing keys, as KZ pins them. */
async function czVerificationKey(kzConfig: Config, kid: string) {
  const set = JSON.parse(readFileSync(kzConfig.peer.publicJwks, 'utf8')) as { keys: jose.JWK[] };
  const jwk = set.keys.find((k) => k.kid === kid);
  if (!jwk) throw new Error(`no key ${kid}`);
  return jose.importJWK(jwk, 'ES256');
}

describe('transfers (wire version 2) between two gateways', function () {
  this.timeout(60_000);
  let pair: Pair | undefined;
  afterEach(async () => {
    await pair?.close();
    pair = undefined;
  });

  it('sends messages that are ready together in one transfer; each is delivered once and its evidence verifies alone', async () => {
    // A few milliseconds of waiting make the batching certain here; in use a transfer fills while the
    // one before it is sent.
    pair = await startPair((raw) => {
      raw.transfers = { maxWaitMs: 50 };
    });
    const czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
    const kzMia = await pair.authority(pair.kzConfig, 'kz-mia');
    const cz = pair.cz;
    // The first submission makes CZ ask KZ what it reads; it goes as a single message meanwhile.
    await czIpc.client.submit(request('tr-first'));
    await learnsV2(cz);

    const n = 40;
    const ids = await Promise.all(
      Array.from({ length: n }, (_, i) => czIpc.client.submit(request(`tr-${i}`)).then((r) => r.messageId)),
    );
    const got = await Promise.all(
      ids.map((id) => kzMia.inbox.waitFor((d) => d.envelope.id === id, 20_000, `message ${id} at KZ`)),
    );
    const transfers = new Set(got.map((d) => d.verification.transfer?.transfer));
    expect(transfers.has(undefined), 'every message came in a transfer').to.equal(false);
    expect(transfers.size, 'fewer transfers than messages').to.be.below(n);

    // One member's evidence, checked with another JOSE implementation and the Merkle proof alone.
    const one = got[7]!;
    const ev = one.verification.transfer!;
    const { payload } = await jose.compactVerify(
      ev.statement,
      await czVerificationKey(pair.kzConfig, one.verification.signatureKid),
    );
    const statement = JSON.parse(new TextDecoder().decode(payload)) as {
      root: string;
      count: number;
      transfer: string;
    };
    expect(statement).to.include({ root: ev.root, count: ev.count, transfer: ev.transfer });
    // The leaf is the envelope's bytes as signed; the receipt names it.
    const leafHex = one.verification.jweSha256;
    expect(
      verifyInclusion(
        Buffer.from(leafHex, 'hex'),
        ev.index,
        ev.count,
        ev.path.map((h: string) => Buffer.from(h, 'hex')),
        Buffer.from(ev.root, 'hex'),
      ),
    ).to.equal(true);
    expect(leafHex).to.not.equal(leafHash(Buffer.from('other')).toString('hex'));

    // Every message delivered once, and the receipts (one transfer back) reported each as delivered.
    for (const id of ids) {
      await czIpc.events.waitFor(
        (e) => e.type === 'delivered' && e.messageId === id,
        20_000,
        `delivered ${id}`,
      );
    }
    expect(kzMia.inbox.items.filter((d) => ids.includes(d.envelope.id))).to.have.length(n);
  });

  it('sends an urgent message alone and at once, as a single message, while transfers flow', async () => {
    pair = await startPair((raw) => {
      raw.transfers = { maxWaitMs: 50 };
    });
    const czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
    const kzMia = await pair.authority(pair.kzConfig, 'kz-mia');
    await czIpc.client.submit(request('tu-first'));
    const cz = pair.cz;
    await learnsV2(cz);
    const bulk = Array.from({ length: 20 }, (_, i) => czIpc.client.submit(request(`tu-bulk-${i}`)));
    const { messageId } = await czIpc.client.submit(request('tu-urgent', 'urgent'));
    await Promise.all(bulk);
    const urgent = await kzMia.inbox.waitFor(
      (d) => d.envelope.id === messageId,
      20_000,
      'the urgent request',
    );
    expect(urgent.envelope.priority).to.equal('urgent');
    expect(urgent.verification.transfer, 'not in a transfer').to.equal(undefined);
    await czIpc.events.waitFor(
      (e) => e.type === 'delivered' && e.messageId === messageId,
      20_000,
      'its receipt',
    );
  });

  it('a transfer without receipts has one check for all its members: resent whole, then each member fails on its own', async () => {
    pair = await startPair((raw) => {
      raw.transfers = { maxWaitMs: 50 };
      raw.delivery = { receiptTimeoutMs: 1500, maxResends: 2, poisonAttempts: 5 };
    });
    const czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
    const cz = pair.cz;
    const first = await czIpc.client.submit(request('rc-first'));
    await czIpc.events.waitFor((e) => e.type === 'delivered' && e.messageId === first.messageId, 15_000);
    await learnsV2(cz);
    // KZ goes down; its ingress stays bound, so what CZ sends (first sends and resends) waits there.
    await pair.kz.stop();
    const redis = new Redis(REDIS_URL);
    try {
      const n = 6;
      const ids = await Promise.all(
        Array.from({ length: n }, (_, i) => czIpc.client.submit(request(`rc-${i}`)).then((r) => r.messageId)),
      );
      // Sent (well before the first check, 1.5 s on): the transfers of the six messages are in KZ's
      // ingress, and each has one receipt check, not one per member.
      for (const id of ids) {
        await czIpc.events.waitFor((e) => e.type === 'sent' && e.messageId === id, 5_000, `sent ${id}`);
      }
      const sent = await drainMessages(names(pair.kzConfig.namespace).ingress);
      const transfers = sent.length;
      expect(transfers, 'in fewer transfers than messages').to.be.within(1, n - 1);
      const checks = await redis.zrange(
        `${names(pair.czConfig.namespace).redisPrefix}bull:receipts:delayed`,
        0,
        -1,
      );
      expect(
        checks.map((c) => c.replace(/^\d+:/, '')).filter((c) => c.startsWith('transfer-')),
      ).to.have.length(transfers);
      for (const id of ids) {
        const failed = await czIpc.events.waitFor(
          (e) => e.type === 'failed' && e.messageId === id,
          30_000,
          `failed ${id}`,
        );
        expect(failed.code).to.equal('delivery.no_receipt');
      }
      // Each member parked alone, with the stored transfer to replay; each transfer resent twice in all.
      const letters: Record<string, unknown>[] = [];
      await waitForDeadLetter(names(pair.czConfig.namespace).dlq, () => letters.length >= n, letters);
      expect(letters.map((l) => l.messageId).sort()).to.deep.equal([...ids].sort());
      expect(letters.every((l) => l.code === 'delivery.no_receipt' && typeof l.jwe === 'string')).to.equal(
        true,
      );
      const resent = await drainMessages(names(pair.kzConfig.namespace).ingress);
      expect(resent, 'two resends of each transfer').to.have.length(2 * transfers);
      expect(new Set(letters.map((l) => l.jwe)).size).to.equal(transfers);
    } finally {
      redis.disconnect();
    }
  });

  it('refuses whole a transfer that carries one message id twice, and delivers it once when it comes properly', async () => {
    // A broken or hostile peer: the same envelope twice in one signed transfer. Its members would
    // share one claim (the same copy token), so each could take the other's for its own redelivery.
    pair = await startPair();
    const kzMia = await pair.authority(pair.kzConfig, 'kz-mia');
    const env = testEnvelope();
    const other = testEnvelope();
    const text = JSON.stringify(env);
    const ring = await KeyRing.load(pair.czConfig.keys, pair.czConfig.peer.publicJwks);
    const twice = await sealTransfer(
      [text, JSON.stringify(other), text],
      { createdAt: new Date().toISOString() },
      ring,
      pair.czConfig.crypto,
    );
    await publishRaw(names(pair.kzConfig.namespace).ingress, Buffer.from(twice.jwe));
    const letter = await waitForDeadLetter(
      names(pair.kzConfig.namespace).dlq,
      (l) => l.code === 'schema.invalid',
      [],
      20_000,
    );
    expect(letter.message).to.include('appears twice');
    expect(letter.path).to.equal('transfer.members[2].id');
    // Refused whole: neither member reached the inbox. The same envelope, sent properly, arrives once.
    await publishRaw(names(pair.kzConfig.namespace).ingress, await sealAsCz(pair.czConfig, env));
    await kzMia.inbox.waitFor((d) => d.envelope.id === env.id, 20_000, 'the envelope sent alone');
    expect(kzMia.inbox.items.map((d) => d.envelope.id)).to.deep.equal([env.id]);
  });

  it('splits a transfer that would seal larger than the peer reads, and delivers every member', async () => {
    // Envelopes full of quotes escape to twice their bytes in the transfer's statement: three that fit
    // transfers.maxBytes seal to more than crypto.maxMessageBytes, which the peer would park whole.
    pair = await startPair((raw) => {
      raw.crypto = { ...(raw.crypto ?? {}), maxMessageBytes: 256 * 1024 };
      raw.transfers = { maxWaitMs: 50, maxBytes: 128 * 1024 };
    });
    const czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
    const kzMia = await pair.authority(pair.kzConfig, 'kz-mia');
    const cz = pair.cz;
    await czIpc.client.submit(request('sp-first'));
    await learnsV2(cz);
    const quoted = (key: string) => {
      const r = request(key);
      (r.body as Record<string, unknown>).details = '"'.repeat(19_000);
      return r;
    };
    const ids = await Promise.all(
      Array.from({ length: 6 }, (_, i) => czIpc.client.submit(quoted(`sp-${i}`)).then((r) => r.messageId)),
    );
    const got = await Promise.all(
      ids.map((id) => kzMia.inbox.waitFor((d) => d.envelope.id === id, 20_000, `message ${id} at KZ`)),
    );
    // Three of them fit transfers.maxBytes but seal larger than the limit: no transfer had three.
    expect(Math.max(...got.map((d) => d.verification.transfer?.count ?? 1))).to.be.below(3);
    for (const id of ids) {
      await czIpc.events.waitFor(
        (e) => e.type === 'delivered' && e.messageId === id,
        20_000,
        `delivered ${id}`,
      );
    }
    expect(await drainMessages(names(pair.kzConfig.namespace).dlq), 'nothing parked at KZ').to.have.length(0);
  });

  it('an older peer that reads no transfers gets single messages, and its single messages are read', async () => {
    // KZ as an older gateway: it binds no transfer route and sends none.
    pair = await startPair((raw) => {
      if (raw.party === 'KZ') raw.transfers = { read: false, send: false };
    });
    const czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
    const kzMia = await pair.authority(pair.kzConfig, 'kz-mia');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await czIpc.client.submit(request(`old-${i}`))).messageId);
    for (const id of ids) {
      const d = await kzMia.inbox.waitFor((x) => x.envelope.id === id, 15_000, `message ${id}`);
      expect(d.verification.transfer).to.equal(undefined);
      await czIpc.events.waitFor(
        (e) => e.type === 'delivered' && e.messageId === id,
        15_000,
        `delivered ${id}`,
      );
    }
    expect(pair.cz.peerWireVersion).to.equal(1);
    // And the other way: the older gateway's single messages are read by the newer one.
    const reply = example('reply', 'old-reply') as SubmissionInput & { body: { inReplyTo: string } };
    reply.body.inReplyTo = ids[0]!;
    const { messageId } = await kzMia.client.submit(reply);
    const back = await czIpc.inbox.waitFor((d) => d.envelope.id === messageId, 15_000, 'the reply at CZ');
    expect(back.verification.transfer).to.equal(undefined);
    await kzMia.events.waitFor(
      (e) => e.type === 'delivered' && e.messageId === messageId,
      15_000,
      'reply delivered',
    );
  });

  it('a peer that stops reading transfers (a downgrade) gets what follows as single messages, nothing lost', async () => {
    const stem = uniqueStem();
    const { cz: czConfig, kz: kzConfig } = pairConfigs(stem);
    const { cz: _c, kz: oldKz } = pairConfigs(stem, (raw) => {
      if (raw.party === 'KZ') raw.transfers = { read: false, send: false };
    });
    const { log } = memoryLogger();
    const cz = await Gateway.start(czConfig, log.child({ gw: 'CZ' }));
    let kz = await Gateway.start(kzConfig, log.child({ gw: 'KZ' }));
    const czIpc = await authority(czConfig, 'cz-pp-ipc');
    const kzMia = await authority(kzConfig, 'kz-mia');
    try {
      await czIpc.client.submit(request('dg-first'));
      await learnsV2(cz);
      // KZ is replaced by an older version: its transfer binding goes.
      await kz.stop();
      kz = await Gateway.start(oldKz, log.child({ gw: 'KZ' }));
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await czIpc.client.submit(request(`dg-${i}`))).messageId);
      for (const id of ids) {
        const d = await kzMia.inbox.waitFor((x) => x.envelope.id === id, 20_000, `message ${id}`);
        expect(d.verification.transfer).to.equal(undefined);
        await czIpc.events.waitFor(
          (e) => e.type === 'delivered' && e.messageId === id,
          20_000,
          `delivered ${id}`,
        );
      }
      expect(cz.peerWireVersion).to.equal(1);
      expect(kzMia.inbox.items.filter((d) => ids.includes(d.envelope.id))).to.have.length(5);
    } finally {
      await czIpc.client.close();
      await kzMia.client.close();
      await cz.stop();
      await kz.stop();
      await removeNamespace(czConfig);
      await removeNamespace(kzConfig);
    }
  });
});
