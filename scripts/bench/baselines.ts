/**
 * The baselines `npm run bench` measures in the same run as the gateways, to put their figures in
 * proportion: raw AMQP over the same three hops (outbox → ingress → inbox, persistent, confirms), the
 * JOSE seal/open rates, and the straightforward pipeline (amqplib + node-jose, one message at a time).
 */
import { randomBytes } from 'node:crypto';
import type { ConfirmChannel } from 'amqplib';
import jose from 'node-jose';
import type { Config } from '../../src/config.js';
import { loadPrivateJwks } from '../../src/crypto/keystore.js';
import { readPublicJwks } from '../../src/crypto/jwk.js';
import { CTY_JWE, TYP_JWE, TYP_JWS } from '../../src/crypto/profile.js';
import { KeyRing } from '../../src/crypto/keyring.js';
import { open } from '../../src/crypto/open.js';
import { seal } from '../../src/crypto/seal.js';
import { connectBroker } from '../../src/transport/connect.js';

const now = () => performance.now();

async function confirmChannel(url: string): Promise<{ ch: ConfirmChannel; close: () => Promise<void> }> {
  const conn = await connectBroker({ url }, { name: 'accord-bench-baseline' });
  const ch = await conn.createConfirmChannel();
  return { ch, close: () => conn.close() };
}

function publishConfirmed(ch: ConfirmChannel, queue: string, content: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    ch.sendToQueue(queue, content, { persistent: true }, (err) => (err ? reject(err as Error) : resolve()));
  });
}

/**
 * Raw AMQP, three hops like the gateway's: publish to q1 (confirm), relay q1 → q2 and q2 → q3 (ack on
 * the confirm), consume q3. Messages per second from the first publish to the last arrival.
 */
export async function rawAmqp(url: string, stem: string, count: number, size: number): Promise<number> {
  const qs = [1, 2, 3].map((i) => `${stem}.raw.q${i}`);
  const pub = await confirmChannel(url);
  for (const q of qs) await pub.ch.assertQueue(q, { durable: true });
  const relays = await Promise.all([0, 1].map(() => confirmChannel(url)));
  for (const [i, r] of relays.entries()) {
    await r.ch.prefetch(256);
    await r.ch.consume(qs[i]!, (m) => {
      if (!m) return;
      r.ch.sendToQueue(qs[i + 1]!, m.content, { persistent: true }, () => r.ch.ack(m));
    });
  }
  const sink = await confirmChannel(url);
  await sink.ch.prefetch(256);
  let got = 0;
  const done = new Promise<void>((resolve) => {
    void sink.ch.consume(qs[2]!, (m) => {
      if (!m) return;
      sink.ch.ack(m);
      if (++got === count) resolve();
    });
  });
  const body = randomBytes(size);
  const t0 = now();
  const window: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    window.push(publishConfirmed(pub.ch, qs[0]!, body));
    if (window.length >= 512) await Promise.all(window.splice(0));
  }
  await Promise.all(window);
  await done;
  const rate = count / ((now() - t0) / 1000);
  for (const q of qs) await pub.ch.deleteQueue(q);
  for (const c of [pub, sink, ...relays]) await c.close();
  return rate;
}

/** Sequential seal and open rates of the gateway's own JOSE code for one payload size, over ~2 s each. */
export async function joseRates(
  cz: Config,
  kz: Config,
  size: number,
): Promise<{ seal: number; open: number }> {
  const czRing = await KeyRing.load(cz.keys, cz.peer.publicJwks);
  const kzRing = await KeyRing.load(kz.keys, kz.peer.publicJwks);
  const payload = Buffer.from(JSON.stringify({ data: randomBytes(size / 2).toString('hex') }));
  const sealed: string[] = [];
  let t0 = now();
  while (now() - t0 < 2000) sealed.push(await seal(payload, czRing, cz.crypto));
  const sealRate = sealed.length / ((now() - t0) / 1000);
  t0 = now();
  let opened = 0;
  while (now() - t0 < 2000) {
    await open(sealed[opened % sealed.length]!, kzRing, kz.crypto);
    opened++;
  }
  return { seal: sealRate, open: opened / ((now() - t0) / 1000) };
}

/** node-jose as it comes: its own sign, encrypt (with its JavaScript ephemeral keys), decrypt, verify. */
export interface JoseAsItComes {
  seal(payload: Buffer): Promise<string>;
  open(jwe: string): Promise<Buffer>;
}

export async function nodeJose(cz: Config, kz: Config): Promise<JoseAsItComes> {
  const keystore = async (c: Config) => {
    const own = await jose.JWK.asKeyStore(await loadPrivateJwks(c.keys));
    const peer = await jose.JWK.asKeyStore(readPublicJwks(c.peer.publicJwks));
    return { own, peer };
  };
  const a = await keystore(cz);
  const b = await keystore(kz);
  const sig = a.own.all({ use: 'sig' })[0]!;
  const enc = a.peer.all({ use: 'enc' })[0]!;
  return {
    async seal(payload) {
      const jws = (await jose.JWS.createSign({ format: 'compact', fields: { typ: TYP_JWS } }, sig)
        .update(payload)
        .final()) as unknown as string;
      return String(
        await jose.JWE.createEncrypt(
          { format: 'compact', contentAlg: 'A256GCM', fields: { typ: TYP_JWE, cty: CTY_JWE } },
          enc,
        )
          .update(jws)
          .final(),
      );
    },
    async open(jwe) {
      const { plaintext } = await jose.JWE.createDecrypt(b.own).decrypt(jwe);
      const { payload } = await jose.JWS.createVerify(b.peer).verify(plaintext.toString('ascii'));
      return payload;
    },
  };
}

/** Sequential seal and open rates of node-jose as it comes, over ~2 s each. */
export async function nodeJoseRates(
  cz: Config,
  kz: Config,
  size: number,
): Promise<{ seal: number; open: number }> {
  const nj = await nodeJose(cz, kz);
  const payload = Buffer.from(JSON.stringify({ data: randomBytes(size / 2).toString('hex') }));
  const sealed: string[] = [];
  let t0 = now();
  while (now() - t0 < 2000) sealed.push(await nj.seal(payload));
  const sealRate = sealed.length / ((now() - t0) / 1000);
  t0 = now();
  let opened = 0;
  while (now() - t0 < 2000) {
    await nj.open(sealed[opened % sealed.length]!);
    opened++;
  }
  return { seal: sealRate, open: opened / ((now() - t0) / 1000) };
}

/**
 * The straightforward pipeline (amqplib + node-jose as it comes): one consumer per side with prefetch 1 — take a submission, seal it,
 * publish it (confirm), ack; on the other side open it, publish to the inbox (confirm), ack.
 */
export async function naivePipeline(
  url: string,
  stem: string,
  cz: Config,
  kz: Config,
  count: number,
  size: number,
): Promise<number> {
  const [outbox, ingress, inbox] = ['outbox', 'ingress', 'inbox'].map((q) => `${stem}.naive.${q}`);
  const nj = await nodeJose(cz, kz);
  const pub = await confirmChannel(url);
  for (const q of [outbox!, ingress!, inbox!]) await pub.ch.assertQueue(q, { durable: true });
  const sender = await confirmChannel(url);
  const receiver = await confirmChannel(url);
  await sender.ch.prefetch(1);
  await receiver.ch.prefetch(1);
  await sender.ch.consume(outbox!, (m) => {
    if (!m) return;
    void (async () => {
      const jwe = await nj.seal(m.content);
      await publishConfirmed(sender.ch, ingress!, Buffer.from(jwe));
      sender.ch.ack(m);
    })();
  });
  await receiver.ch.consume(ingress!, (m) => {
    if (!m) return;
    void (async () => {
      const payload = await nj.open(m.content.toString('latin1'));
      await publishConfirmed(receiver.ch, inbox!, payload);
      receiver.ch.ack(m);
    })();
  });
  const sink = await confirmChannel(url);
  let got = 0;
  const done = new Promise<void>((resolve) => {
    void sink.ch.consume(inbox!, (m) => {
      if (!m) return;
      sink.ch.ack(m);
      if (++got === count) resolve();
    });
  });
  const body = Buffer.from(JSON.stringify({ data: randomBytes(size / 2).toString('hex') }));
  const t0 = now();
  for (let i = 0; i < count; i++) await publishConfirmed(pub.ch, outbox!, body);
  await done;
  const rate = count / ((now() - t0) / 1000);
  for (const q of [outbox!, ingress!, inbox!]) await pub.ch.deleteQueue(q);
  for (const c of [pub, sink, sender, receiver]) await c.close();
  return rate;
}
