/**
 * docs/protocol.md, "Test vectors": every vector of test/vectors/protocol/ published to a real
 * gateway (KZ, configured with the vectors' receiver keys as its own and their sender's as the
 * peer's), and the outcome the manifest names checked where the gateway shows it: the receipt on
 * CZ's ingress (CZ's gateway is not running; its ingress collects what KZ sends) and the delivery in
 * the authority's inbox, or the dead letter with its code and no receipt. The vectors were sealed at
 * the manifest's `sealedAt`; the gateway runs on a drill clock a minute after it (src/clock.ts), so
 * the vectors never go stale.
 */
import { expect } from 'chai';
import { chmodSync, copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { shiftedClock } from '../src/clock.js';
import { names, type Config } from '../src/config.js';
import { receiptDigest, vectorClass, type VectorContext } from '../src/conformance/classes.js';
import { sealerFor } from '../src/conformance/craft.js';
import { readManifest, type ManifestVector } from '../src/conformance/manifest.js';
import { readPrivateJwks, readPublicJwks } from '../src/crypto/jwk.js';
import { KeyRing } from '../src/crypto/keyring.js';
import { open } from '../src/crypto/open.js';
import { AccordError } from '../src/errors.js';
import { Gateway } from '../src/gateway.js';
import {
  AMQP_URL,
  REDIS_URL,
  ROOT,
  authority,
  drainMessages,
  eventually,
  ingressWithoutGateway,
  pairConfigs,
  removeNamespace,
  uniqueStem,
  waitForDeadLetter,
  type TestAuthority,
} from './helpers/harness.js';
import { tempDir } from './helpers/temp.js';

const DIR = join(ROOT, 'test', 'vectors', 'protocol');
const manifest = readManifest(DIR);

interface Received {
  content: Buffer;
  envelope: { id: string; kind: string; body: Record<string, any> };
}

describe('docs/protocol.md: the protocol test vectors, against a gateway', function () {
  this.timeout(60_000);
  let cz: Config;
  let kz: Config;
  let gw: Gateway;
  let czRing: KeyRing;
  let redis: Redis;
  let mia: TestAuthority;
  const now = shiftedClock(Date.parse(manifest.sealedAt) + 60_000 - Date.now());
  const received: Received[] = [];
  const letters: Record<string, unknown>[] = [];

  /** Everything KZ sent to CZ's ingress so far, opened with the vectors' sender keys. */
  async function readCzIngress(): Promise<Received[]> {
    for (const m of await drainMessages(names(cz.namespace).ingress)) {
      const { payload } = await open(m.content, czRing, cz.crypto);
      received.push({
        content: m.content,
        envelope: JSON.parse(payload.toString('utf8')) as Received['envelope'],
      });
    }
    return received;
  }
  const receiptsFor = (id: string) =>
    received.filter((r) => r.envelope.kind === 'receipt' && r.envelope.body.forMessageId === id);
  async function receiptFor(id: string, count = 1): Promise<Received[]> {
    return eventually(
      async () => ((await readCzIngress(), receiptsFor(id)).length >= count ? receiptsFor(id) : undefined),
      15_000,
      `${count} receipt(s) for ${id}`,
    );
  }

  async function publish(v: ManifestVector, content: Buffer): Promise<void> {
    const n = names(kz.namespace);
    const conn = await amqp.connect(AMQP_URL);
    try {
      const ch = await conn.createConfirmChannel();
      ch.publish(n.peerExchange, v.route === 'heartbeat' ? n.heartbeatRoute : n.ingress, content, {
        persistent: true,
        mandatory: true,
        contentType: 'application/jose',
        ...(v.id ? { messageId: v.id } : {}),
      });
      await ch.waitForConfirms();
    } finally {
      await conn.close();
    }
  }

  const fileOf = (v: ManifestVector) => readFileSync(join(DIR, v.file!));

  before(async () => {
    const keys = tempDir('vectors');
    const copy = (rel: string, name: string) => {
      copyFileSync(join(DIR, rel), join(keys, name));
      chmodSync(join(keys, name), 0o600);
      return join(keys, name);
    };
    ({ cz, kz } = pairConfigs(uniqueStem(), (raw) => {
      if (raw.party !== manifest.receiver.address.party) return;
      raw.keys.privateJwks = copy(manifest.receiver.privateJwks, 'receiver.private.jwks.json');
      raw.peer.publicJwks = copy(manifest.sender.publicJwks, 'sender.public.jwks.json');
      raw.crypto = { ...raw.crypto, maxMessageBytes: manifest.receiver.maxMessageBytes };
    }));
    czRing = await KeyRing.fromSets(
      readPrivateJwks(join(DIR, manifest.sender.privateJwks)),
      readPublicJwks(join(DIR, manifest.receiver.publicJwks)),
    );
    await ingressWithoutGateway(cz);
    gw = await Gateway.start(kz, pino({ level: 'silent' }), now);
    mia = await authority(kz, manifest.receiver.address.authority);
    redis = new Redis(REDIS_URL);
  });
  after(async () => {
    redis?.disconnect();
    await mia?.client.close();
    await gw?.stop();
    await removeNamespace(cz);
    await removeNamespace(kz);
  });

  it('the manifest lists a vector of every class, each with a file or a precondition', () => {
    expect(manifest.vectors.map((v) => v.class)).to.include.members([
      'request',
      'receipt',
      'oversize',
      'heartbeat',
    ]);
    for (const v of manifest.vectors)
      expect(v.file !== null || v.precondition === 'sent-a-message', v.name).to.equal(true);
  });

  it('reads the manifest through its schema: a vector naming a code src/errors.ts does not have is refused', () => {
    const dir = tempDir('manifest');
    const broken = structuredClone(manifest);
    broken.vectors[0]!.expect = { outcome: 'parked', code: 'crypto.no_such_code' as 'crypto.malformed' };
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(broken));
    expect(() => readManifest(dir))
      .to.throw(AccordError)
      .with.property('message')
      .that.matches(/vectors\.0\.expect\.code: not an error code of src\/errors\.ts/);
  });

  for (const v of manifest.vectors) {
    const what =
      v.expect.outcome === 'parked'
        ? `parked with ${v.expect.code}`
        : v.expect.outcome === 'taken-in'
          ? `taken in: receipt ${v.expect.status}${v.expect.inbox ? ', delivered to the inbox' : ''}`
          : v.expect.outcome;
    it(`${v.name} (${v.requirements.map((r) => `[${r}]`).join(' ')}): ${what}`, async () => {
      const e = v.expect;
      switch (e.outcome) {
        case 'taken-in': {
          await publish(v, fileOf(v));
          const [receipt] = await receiptFor(v.id!);
          expect(receipt!.envelope.body.status).to.equal(e.status);
          expect(receipt!.envelope.body.jweSha256).to.equal(receiptDigest(fileOf(v)));
          if (e.inbox)
            await mia.inbox.waitFor((d) => d.envelope.id === v.id, 10_000, `${v.name} in the inbox`);
          return;
        }
        case 'duplicate': {
          await publish(v, fileOf(v));
          await receiptFor(v.id!);
          await publish(v, fileOf(v));
          const [first, second] = await receiptFor(v.id!, 2);
          expect(second!.content.equals(first!.content), 'the same receipt, byte for byte').to.equal(true);
          await new Promise((r) => setTimeout(r, 300));
          expect(mia.inbox.items.filter((d) => d.envelope.id === v.id)).to.have.length(1);
          return;
        }
        case 'heard': {
          const key = `${names(kz.namespace).redisPrefix}peer:last-heard`;
          await redis.del(key);
          await publish(v, fileOf(v));
          await eventually(async () => (await redis.get(key)) ?? undefined, 10_000, 'the heartbeat heard');
          return;
        }
        case 'parked': {
          const content = fileOf(v);
          if (v.precondition === 'dedup-record-lost') {
            await publish(v, content);
            await receiptFor(v.id!);
            await redis.del(`${names(kz.namespace).redisPrefix}seen:${v.id}`);
          }
          await publish(v, content);
          const sha = createHash('sha256').update(content).digest('hex');
          const letter = await waitForDeadLetter(
            names(kz.namespace).dlq,
            (l) => l.messageId === v.id || l.inputSha256 === sha,
            letters,
            10_000,
          );
          expect(letter.code).to.equal(e.code);
          return;
        }
        case 'receipt-accepted': {
          // KZ's authority sends a message; its JWE, taken from CZ's ingress, is what the receipt answers.
          const to = manifest.sender.address;
          const { messageId } = await mia.client.submit({
            idempotencyKey: `vector-${uniqueStem()}`,
            kind: 'travel-document',
            from: manifest.receiver.address.authority,
            to,
            body: {
              documents: [{ number: 'VECTOR900', type: 'passport', status: 'lost', issuingState: 'KZ' }],
            },
            handling: { purposes: ['combating-crime'], conditions: [] },
          });
          const sent = await eventually(
            async () => (await readCzIngress()).find((r) => r.envelope.id === messageId),
            15_000,
            'the message KZ sent',
          );
          const ctx: VectorContext = {
            nowMs: now().getTime(),
            from: to,
            to: manifest.receiver.address,
            ownDirectory: [],
            sealer: sealerFor(czRing),
            idFor: () => crypto.randomUUID(),
            unpinnedSigningKey: readPrivateJwks(join(DIR, manifest.sender.unpinnedPrivateJwks)).keys[0]!,
            announcedKey: readPublicJwks(join(DIR, manifest.sender.announcedPublicJwks)).keys[0]!,
            maxMessageBytes: manifest.receiver.maxMessageBytes,
            sentByReceiver: {
              id: messageId,
              jweSha256: createHash('sha256').update(sent.content).digest('hex'),
              from: manifest.receiver.address,
              to,
              priority: 'normal',
            },
          };
          const built = vectorClass(v.class).build(ctx)!;
          await publish({ ...v, id: built.id }, Buffer.from(built.copies[0]!));
          await mia.events.waitFor(
            (ev) => ev.type === 'delivered' && ev.messageId === messageId,
            15_000,
            'the sending authority told delivered',
          );
          return;
        }
      }
    });
  }

  it('[P-RCPT-2] [P-ERR-1] sent no receipt for any vector it parked, nor for the heartbeat', async () => {
    await new Promise((r) => setTimeout(r, 500));
    await readCzIngress();
    for (const v of manifest.vectors) {
      if (v.expect.outcome === 'parked' && v.precondition === undefined)
        expect(receiptsFor(v.id!), v.name).to.be.empty;
      if (v.expect.outcome === 'heard') expect(receiptsFor(v.id!), v.name).to.be.empty;
    }
  });
});
