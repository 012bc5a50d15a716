import { expect } from 'chai';
import type { SubmissionInput } from '../src/client/index.js';
import { names } from '../src/config.js';
import { generatePartyKeys } from '../src/crypto/keygen.js';
import { KeyRing } from '../src/crypto/keyring.js';
import { readPublicJwks } from '../src/crypto/jwk.js';
import { seal } from '../src/crypto/seal.js';
import { messageIdFor } from '../src/domain/ids.js';
import {
  drainQueue,
  publishRaw,
  startPair,
  waitForDeadLetter,
  type Pair,
  type TestAuthority,
  example,
  testEnvelope,
  sealedCopyOf,
} from './helpers/harness.js';

describe('bad input from a case system is rejected whole, and the rest flows on', () => {
  let pair: Pair;
  let czIpc: TestAuthority;
  let kzMia: TestAuthority;
  let dlq: Record<string, unknown>[];
  before(async () => {
    pair = await startPair((raw) => {
      if (raw.party === 'CZ') raw.messages.maxSubmissionBytes = 4096;
    });
    czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
    kzMia = await pair.authority(pair.kzConfig, 'kz-mia');
    dlq = [];
  });
  after(async () => {
    await pair.close();
  });

  const czDlq = () => names(pair.czConfig.namespace).dlq;

  it('parks a submission that is not JSON in accord.dlq with input.not_json', async () => {
    await czIpc.client.submitRaw(Buffer.from('{"idempotencyKey": "nj-1", "from": "cz-pp-ipc", '));
    const letter = await waitForDeadLetter(czDlq(), (l) => l.code === 'input.not_json', dlq);
    expect(letter).to.include({ source: 'outbox' });
    expect(letter)
      .to.have.property('inputSha256')
      .that.matches(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(letter)).not.to.include('cz-pp-ipc');
  });

  it('parks invalid UTF-8 with input.not_json', async () => {
    await czIpc.client.submitRaw(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]));
    await waitForDeadLetter(czDlq(), (l) => l.code === 'input.not_json' && l.inputBytes === 6, dlq);
  });

  it('parks a submission over the size limit with input.too_large, before parsing it', async () => {
    const big = example('request', 'big-1');
    big.body.details = 'x'.repeat(5000);
    await czIpc.client.submitRaw(Buffer.from(JSON.stringify(big)));
    await waitForDeadLetter(czDlq(), (l) => l.code === 'input.too_large', dlq);
  });

  it('refuses a __proto__ key instead of parsing it', async () => {
    await czIpc.client.submitRaw(Buffer.from('{"from":"cz-pp-ipc","__proto__":{"admin":true}}'));
    await waitForDeadLetter(czDlq(), (l) => l.code === 'input.not_json' && l.inputBytes === 47, dlq);
  });

  it('parks a submission from an authority that is not listed (Art. 13) with auth.unknown_authority', async () => {
    await czIpc.client.submitRaw(
      Buffer.from(JSON.stringify({ ...example('request', 'ua-1'), from: 'cz-unknown' })),
    );
    const letter = await waitForDeadLetter(czDlq(), (l) => l.code === 'auth.unknown_authority', dlq);
    expect(letter).to.include({ path: 'from' });
  });

  it('parks a submission without a sender with schema.invalid at from', async () => {
    await czIpc.client.submitRaw(Buffer.from('[1,2,3]'));
    await waitForDeadLetter(czDlq(), (l) => l.code === 'schema.invalid' && l.path === 'from', dlq);
  });

  const rejectedCases: [string, (s: Record<string, any>) => void, string, string][] = [
    ['a missing required field', (s) => delete s.body.summary, 'schema.invalid', 'body.summary'],
    // An unknown key is reported at the object that holds it; the key itself is never repeated.
    ['an unknown key at the top', (s) => (s.urgentFlag = true), 'schema.invalid', ''],
    [
      'an unknown key deep inside',
      (s) => (s.body.travelDocuments[0].colour = 'red'),
      'schema.invalid',
      'body.travelDocuments.0',
    ],
    ['an unknown kind', (s) => (s.kind = 'gossip'), 'schema.invalid', 'kind'],
    // The gateway picks its own handler by kind: a kind named like an object's property is just unknown.
    ['a kind named like an object property', (s) => (s.kind = 'constructor'), 'schema.invalid', 'kind'],
    [
      'a crime category outside Art. 2',
      (s) => (s.body.crimeCategories = ['jaywalking']),
      'schema.invalid',
      'body.crimeCategories.0',
    ],
    [
      'the wrong recipient party',
      (s) => (s.to = { party: 'CZ', authority: 'cz-ndh' }),
      'auth.wrong_party',
      'to.party',
    ],
    [
      'an unlisted recipient authority',
      (s) => (s.to.authority = 'kz-nobody'),
      'auth.unknown_recipient',
      'to.authority',
    ],
    [
      'a language not agreed (Art. 9(6))',
      (s) => (s.language = 'de'),
      'policy.language_not_agreed',
      'language',
    ],
  ];
  for (const [i, [what, mutate, code, path]] of rejectedCases.entries()) {
    it(`rejects a submission with ${what}: event ${code} at ${path || '(root)'}, nothing sent`, async () => {
      const key = `bad-${i}-${code}`;
      const sub = example('request', key);
      mutate(sub);
      await czIpc.client.submitRaw(Buffer.from(JSON.stringify(sub)));
      const ev = await czIpc.events.waitFor((e) => e.idempotencyKey === key, 10_000, `rejection of ${key}`);
      expect(ev).to.include({ type: 'rejected', code, path });
      // The message id follows from the sender and the key, so the event names it (docs/integration.md);
      // the kind where the submission names one the gateway knows.
      expect(ev.messageId).to.equal(messageIdFor('CZ', 'cz-pp-ipc', key));
      expect(ev.kind).to.equal(code === 'schema.invalid' && path === 'kind' ? undefined : 'request');
    });
  }

  it('names the message id and kind in the rejection of a submission the gateway keeps (an oral request)', async () => {
    const key = 'bad-oral-1';
    const oral = {
      idempotencyKey: key,
      from: 'cz-pp-ipc',
      kind: 'oral-request',
      body: { to: { party: 'KZ', authority: 'kz-nobody' }, madeAt: new Date().toISOString(), summary: 'x' },
    };
    await czIpc.client.submitRaw(Buffer.from(JSON.stringify(oral)));
    const ev = await czIpc.events.waitFor((e) => e.idempotencyKey === key, 10_000, `rejection of ${key}`);
    expect(ev).to.include({
      type: 'rejected',
      code: 'auth.unknown_recipient',
      messageId: messageIdFor('CZ', 'cz-pp-ipc', key),
      kind: 'oral-request',
    });
  });

  it('still delivers good traffic after all of the above, and nothing bad reached KZ', async () => {
    const { messageId } = await czIpc.client.submit(example('request', 'good-after-bad') as SubmissionInput);
    await czIpc.events.waitFor(
      (e) => e.type === 'delivered' && e.messageId === messageId,
      10_000,
      'delivered',
    );
    expect(kzMia.inbox.items.map((d) => d.envelope.id)).to.deep.equal([messageId]);
    expect(czIpc.events.items.filter((e) => e.type === 'sent')).to.have.length(1);
  });
});

describe('bad input from the peer is parked, never delivered', () => {
  let pair: Pair;
  let czIpc: TestAuthority;
  let kzMia: TestAuthority;
  let czRing: KeyRing;
  const dlq: Record<string, unknown>[] = [];
  before(async () => {
    pair = await startPair();
    czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
    kzMia = await pair.authority(pair.kzConfig, 'kz-mia');
    czRing = await KeyRing.load(pair.czConfig.keys.privateJwks, pair.czConfig.peer.publicJwks);
  });
  after(async () => {
    await pair.close();
  });

  const kzIngress = () => names(pair.kzConfig.namespace).ingress;
  const kzDlq = () => names(pair.kzConfig.namespace).dlq;

  const envelope = (over: Record<string, any> = {}) => testEnvelope(over);
  const sealWith = (ring: KeyRing, env: Record<string, any>) =>
    seal(Buffer.from(JSON.stringify(env)), ring, pair.czConfig.crypto);

  it('parks something that is not a JWE with crypto.malformed, keeping it for an admin', async () => {
    await publishRaw(kzIngress(), Buffer.from('hello'));
    const letter = await waitForDeadLetter(kzDlq(), (l) => l.code === 'crypto.malformed', dlq);
    expect(letter).to.include({ source: 'ingress', jwe: 'hello' });
  });

  it('parks a JWE with a tampered ciphertext with crypto.decrypt_failed', async () => {
    const jwe = await sealWith(czRing, envelope());
    const parts = jwe.split('.');
    const c = parts[3]!;
    parts[3] = (c[0] === 'A' ? 'B' : 'A') + c.slice(1);
    await publishRaw(kzIngress(), Buffer.from(parts.join('.')));
    await waitForDeadLetter(kzDlq(), (l) => l.code === 'crypto.decrypt_failed', dlq);
  });

  const bindingCases: [string, Record<string, any>, string][] = [
    [
      'addressed to another party (surreptitious forwarding)',
      { to: { party: 'CZ', authority: 'cz-ndh' } },
      'envelope.wrong_recipient',
    ],
    [
      'addressed to an authority not listed at KZ',
      { to: { party: 'KZ', authority: 'kz-nobody' } },
      'auth.unknown_recipient',
    ],
    [
      'claiming another sender party',
      { from: { party: 'KZ', authority: 'kz-ncb' } },
      'envelope.wrong_sender',
    ],
    [
      'from a sending authority not in the directory',
      { from: { party: 'CZ', authority: 'cz-nobody' } },
      'auth.unknown_authority',
    ],
    ['that has expired', { expiresAt: new Date(Date.now() - 3600_000).toISOString() }, 'envelope.expired'],
    [
      'created in the future',
      { createdAt: new Date(Date.now() + 3600_000).toISOString() },
      'envelope.not_yet_valid',
    ],
    ['with an unknown key in the signed envelope', { extra: 1 }, 'schema.invalid'],
  ];
  for (const [what, over, code] of bindingCases) {
    it(`parks a correctly signed message ${what} with ${code}`, async () => {
      const env = envelope(over);
      await publishRaw(kzIngress(), Buffer.from(await sealWith(czRing, env)));
      const letter = await waitForDeadLetter(kzDlq(), (l) => l.code === code, dlq);
      expect(letter.messageId).to.equal(env.id);
    });
  }

  it('parks a message signed with a key KZ has not pinned with crypto.unknown_kid', async () => {
    const mallory = await generatePartyKeys('CZ');
    const ring = await KeyRing.fromSets(mallory.privateSet, readPublicJwks(pair.czConfig.peer.publicJwks));
    await publishRaw(kzIngress(), Buffer.from(await sealWith(ring, envelope())));
    const letter = await waitForDeadLetter(kzDlq(), (l) => l.code === 'crypto.unknown_kid', dlq);
    expect(letter.kid).to.equal(mallory.publicSet.keys[0]!.kid);
  });

  it('delivers a replayed JWE once, answers it with the same receipt, and reports delivered once', async () => {
    const { messageId } = await czIpc.client.submit(example('request', 'replay-1') as SubmissionInput);
    await czIpc.events.waitFor(
      (e) => e.type === 'delivered' && e.messageId === messageId,
      10_000,
      'delivered',
    );
    const jwe = await sealedCopyOf(pair.czConfig, messageId);
    await publishRaw(kzIngress(), Buffer.from(jwe));
    await publishRaw(kzIngress(), Buffer.from(jwe));
    // A marker after the replays: when it is delivered, the replays have been handled.
    const marker = await czIpc.client.submit(example('request', 'replay-marker') as SubmissionInput);
    await czIpc.events.waitFor(
      (e) => e.type === 'delivered' && e.messageId === marker.messageId,
      10_000,
      'marker',
    );
    expect(kzMia.inbox.items.filter((d) => d.envelope.id === messageId)).to.have.length(1);
    expect(
      czIpc.events.items.filter((e) => e.type === 'delivered' && e.messageId === messageId),
    ).to.have.length(1);
    expect(await drainQueue(names(pair.czConfig.namespace).dlq)).to.have.length(0);
  });

  it('delivered nothing of the bad messages', () => {
    expect(kzMia.inbox.items.every((d) => d.envelope.kind === 'request')).to.equal(true);
  });
});
