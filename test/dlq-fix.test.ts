/**
 * Dead letters that can be fixed: a sent message that got no receipt is replayed through the outbox
 * to the peer and delivered once; letters about the same input are addressed one by one; a letter a
 * replay cannot help is refused with the reason; a late receipt resolves a letter, and `accord status`
 * stops counting it; `dlq list` filters and prints JSON; the admin API does the same behind its token.
 */
import { expect } from 'chai';
import { createHash, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Redis } from 'ioredis';
import { names } from '../src/config.js';
import { DeadLetters, type LetterView } from '../src/dlq/dead-letters.js';
import amqp from 'amqplib';
import { RedisMessageState } from '../src/store/redis-state.js';
import {
  AMQP_URL,
  REDIS_URL,
  configFileFor,
  eventually,
  example,
  publishRaw,
  runCli,
  sealAsCz,
  startPair,
  testEnvelope,
  type Pair,
  type TestAuthority,
} from './helpers/harness.js';
import type { SubmissionInput } from '../src/client/index.js';

const TOKEN = 'test-only-admin-token-dlq-0123456789abcdef';
const cli = (...args: string[]) => runCli(args);

interface Listed {
  letters: LetterView[];
  total: number;
  open: number;
}

describe('dead letters that can be fixed', function () {
  this.timeout(60_000);
  let pair: Pair;
  let redis: Redis;
  let czIpc: TestAuthority;
  let kzMia: TestAuthority;
  let czFile: string;
  let kzFile: string;
  let base: string;

  before(async () => {
    process.env.ACCORD_TEST_DLQ_ADMIN_TOKEN = TOKEN;
    pair = await startPair((raw) => {
      if (raw.party === 'CZ') raw.admin = { port: 0, tokenEnv: 'ACCORD_TEST_DLQ_ADMIN_TOKEN' };
    });
    const address = pair.cz.adminAddress!;
    base = `http://${address.address}:${address.port}`;
    redis = new Redis(REDIS_URL);
    czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
    kzMia = await pair.authority(pair.kzConfig, 'kz-mia');
    czFile = configFileFor(pair.czConfig);
    kzFile = configFileFor(pair.kzConfig);
  });
  after(async () => {
    redis.disconnect();
    await pair.close();
  });

  const cz = () => names(pair.czConfig.namespace);
  const czState = () => new RedisMessageState(redis, cz().redisPrefix);

  /**
   * What the receipt timer leaves after the last resend: the message failed, its letter in CZ's DLQ.
   * A message that was delivered is first waited for to be marked so (the mark follows the event).
   */
  async function failAtCz(id: string, delivered = true): Promise<void> {
    const sent = await eventually(async () => {
      const rec = await czState().getSent(id);
      return rec !== null && (!delivered || rec.deliveredAt !== undefined) ? rec : undefined;
    });
    await redis.hdel(`${cz().redisPrefix}sent:${id}`, 'deliveredAt');
    await czState().markFailed(id, new Date().toISOString());
    // Its sealed copy: its own JWE, or the transfer it went in (wire version 2).
    const copy = (await czState().sealedCopy(sent))!;
    const letter = {
      letterId: randomUUID(),
      at: new Date().toISOString(),
      source: 'outbox',
      code: 'delivery.no_receipt',
      message: 'no receipt after 5 resends',
      messageId: id,
      inputSha256: sent.jweSha256,
      inputBytes: copy.jwe.length,
      jwe: copy.jwe,
    };
    await publishRaw(cz().dlq, Buffer.from(JSON.stringify(letter)));
  }

  /** The letters as the module reads them, in this process: for waiting, where the CLI is not the subject. */
  const letters = (config: typeof pair.czConfig) =>
    new DeadLetters({
      names: names(config.namespace),
      connect: () => amqp.connect(AMQP_URL),
      brokerUser: 'guest',
      redis,
      record: () => Promise.reject(new Error('not in this test')),
      actor: () => 'test',
    });
  const waitFor = (config: typeof pair.czConfig, pred: (v: LetterView) => boolean, n = 1) =>
    eventually(
      async () => {
        const l = (await letters(config).list()).letters.filter(pred);
        return l.length === n ? l : undefined;
      },
      20_000,
      'the dead letters',
    );

  async function list(file: string, ...args: string[]): Promise<Listed> {
    const r = await cli('dlq', 'list', '--config', file, '--json', ...args);
    expect(r.code, r.stderr).to.equal(0);
    return JSON.parse(r.stdout) as Listed;
  }

  it('replays a sent message that got no receipt to the peer, through the outbox: delivered once', async () => {
    // Sealed and recorded at CZ, never seen by KZ: the link was down for every resend.
    const env = testEnvelope();
    const jwe = (await sealAsCz(pair.czConfig, env)).toString('latin1');
    const id = env.id as string;
    await czState().putSealed(
      id,
      {
        jwe,
        jweSha256: createHash('sha256').update(jwe, 'latin1').digest('hex'),
        from: 'cz-pp-ipc',
        idempotencyKey: `dlq-${id}`,
        kind: 'travel-document',
        toParty: 'KZ',
        toAuthority: 'kz-mia',
        sealedAt: new Date().toISOString(),
      },
      3600,
    );
    await czState().markSent(id, new Date().toISOString());
    await failAtCz(id, false);
    const [letter] = await waitFor(pair.czConfig, (v) => v.messageId === id);
    expect(letter).to.include({ origin: 'outbox', messageId: id, state: 'open' });
    expect(letter!.replay).to.deep.equal({ to: 'outbox' });

    const r = await cli('dlq', 'replay', letter!.ref, '--config', czFile);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain(`to ${cz().outbox}`);
    await kzMia.inbox.waitFor((d) => d.envelope.id === id, 20_000, 'the resent message at KZ');
    await czIpc.events.waitFor((e) => e.messageId === id && e.type === 'delivered', 20_000, 'delivered');
    expect(kzMia.inbox.items.filter((d) => d.envelope.id === id)).to.have.length(1);
    expect((await letters(pair.czConfig).list()).total, 'the letter left, none came back').to.equal(0);
    // Art. 10(6): the replay is recorded with the letter's reference, code and origin.
    const record = await eventually(async () => {
      const text = await readFile(pair.czConfig.records.auditFile!, 'utf8');
      const line = text.split('\n').find((l) => l.includes('"type":"dead-letter-replay"'));
      return line === undefined ? undefined : (JSON.parse(line) as Record<string, string>);
    });
    expect(record).to.include({ refersTo: letter!.ref, messageId: id });
    expect(record.reason).to.equal(`delivery.no_receipt (outbox): replayed to ${cz().outbox}`);
    expect(record.decidedBy).to.match(/^accord dlq replay \(/);
  });

  it('addresses two letters about the same input one by one, old letters without an id too', async () => {
    const kz = names(pair.kzConfig.namespace);
    const garbage = Buffer.from(JSON.stringify({ kind: 'request', from: 'nobody', n: randomUUID() }));
    await publishRaw(kz.outbox, garbage);
    await publishRaw(kz.outbox, garbage);
    // Two letters made before letters had a reference, byte for byte the same.
    const old = Buffer.from(
      JSON.stringify({
        at: new Date().toISOString(),
        source: 'outbox',
        code: 'input.not_json',
        message: 'old',
        inputSha256: '0'.repeat(64),
        inputBytes: 3,
      }),
    );
    await publishRaw(kz.dlq, old);
    await publishRaw(kz.dlq, old);
    const sha = createHash('sha256').update(garbage).digest('hex');
    const twins = await waitFor(pair.kzConfig, (v) => v.inputSha256 === sha, 2);
    expect(twins[0]!.ref).not.to.equal(twins[1]!.ref);
    // The input's hash names both: ambiguous, and said so.
    const ambiguous = await cli('dlq', 'show', sha, '--config', kzFile);
    expect(ambiguous.code).to.equal(1);
    expect(ambiguous.stderr).to.contain('dlq.ambiguous_letter');
    const drop = await cli('dlq', 'drop', twins[0]!.ref, '--config', kzFile, '--reason', 'test twin');
    expect(drop.code, drop.stderr).to.equal(0);
    const shown = await cli('dlq', 'show', twins[1]!.ref, '--config', kzFile);
    expect(shown.code, shown.stderr).to.equal(0);
    expect(JSON.parse(shown.stdout)).to.include({ ref: twins[1]!.ref, code: 'auth.unknown_authority' });

    const olds = (await letters(pair.kzConfig).list({ code: 'input.not_json' })).letters;
    const h = createHash('sha256').update(old).digest('hex').slice(0, 16);
    expect(olds.map((v) => v.ref)).to.deep.equal([h, `${h}.2`]);
    const dropOld = await cli('dlq', 'drop', `${h}.2`, '--config', kzFile, '--reason', 'test old twin');
    expect(dropOld.code, dropOld.stderr).to.equal(0);
    const left = (await letters(pair.kzConfig).list({ code: 'input.not_json' })).letters;
    expect(left.map((v) => v.ref)).to.deep.equal([h]);
  });

  it('refuses to replay a letter a replay cannot help, with the reason (exit 1); lists by filter as JSON', async () => {
    const kz = names(pair.kzConfig.namespace);
    // Five base64url parts that are no JWE: parked with its bytes, which a replay cannot mend.
    await publishRaw(kz.ingress, Buffer.from('eyJhbGciOiJub25lIn0.a.b.c.d'));
    const [letter] = await waitFor(pair.kzConfig, (v) => v.code?.startsWith('crypto.') === true);
    expect(letter!.origin).to.equal('ingress');
    expect(letter!.jweBytes).to.be.greaterThan(0);
    expect(letter!.replay).to.have.property('refused').that.contains('cryptographic');
    const r = await cli('dlq', 'replay', letter!.ref, '--config', kzFile);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain('dlq.not_replayable').and.to.contain('cryptographic');

    // Filters: origin, family, time, state (the outbox letters of the test before are there too).
    const listed = await list(
      kzFile,
      '--origin',
      'ingress',
      '--code',
      'crypto.*',
      '--open',
      '--since',
      '2000-01-01',
    );
    expect(listed.letters.map((v) => v.ref)).to.deep.equal([letter!.ref], 'still there, alone in the filter');
    expect(listed.total).to.be.greaterThan(1);
    expect((await list(kzFile, '--until', '2000-01-01')).letters).to.deep.equal([]);
    const bad = await cli('dlq', 'list', '--config', kzFile, '--since', 'yesterday');
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.contain('schema.invalid');
  });

  it('serves the letters on the admin API only with the token, and replays and drops there', async () => {
    const get = (path: string, token: string | null = TOKEN) =>
      fetch(`${base}${path}`, token === null ? {} : { headers: { authorization: `Bearer ${token}` } });
    const post = (path: string, body?: unknown, token: string | null = TOKEN) =>
      fetch(`${base}${path}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    // A message delivered once, whose receipt then "never came": the API resends it.
    const { messageId: id } = await czIpc.client.submit(example('request', 'dlq-api-1') as SubmissionInput);
    await czIpc.events.waitFor((e) => e.messageId === id && e.type === 'delivered', 20_000, 'delivered');
    await failAtCz(id);
    // And a submission from nobody: its letter keeps only a hash.
    await publishRaw(cz().outbox, Buffer.from(JSON.stringify({ kind: 'request', from: 'nobody' })));
    const listed = await eventually(async () => {
      const res = await get('/api/dlq?origin=outbox');
      const body = (await res.json()) as Listed;
      return body.letters.length === 2 ? body : undefined;
    }, 20_000);
    const failed = listed.letters.find((v) => v.code === 'delivery.no_receipt')!;
    const nobody = listed.letters.find((v) => v.code !== 'delivery.no_receipt')!;

    for (const res of [
      await get('/api/dlq', null),
      await get(`/api/dlq/${failed.ref}`, `${TOKEN}x`),
      await post(`/api/dlq/${failed.ref}/replay`, undefined, null),
      await post(`/api/dlq/${nobody.ref}/drop`, { reason: 'no token' }, null),
    ]) {
      expect(res.status).to.equal(401);
    }
    expect((await get('/api/dlq?origin=elsewhere')).status).to.equal(400);
    expect((await post('/api/dlq/0000000000/replay')).status).to.equal(404);

    const refused = await post(`/api/dlq/${nobody.ref}/replay`);
    expect(refused.status).to.equal(409);
    expect(await refused.json()).to.include({ code: 'dlq.not_replayable' });
    const replayed = await post(`/api/dlq/${failed.ref}/replay`);
    expect(replayed.status).to.equal(200);
    expect(await replayed.json()).to.deep.include({
      replayed: {
        ref: failed.ref,
        code: 'delivery.no_receipt',
        origin: 'outbox',
        to: 'outbox',
        queue: cz().outbox,
        messageId: id,
      },
    });
    // KZ delivered it before: the resend is answered with its stored receipt, not delivered again.
    await czIpc.events.waitFor(
      (e) =>
        e.messageId === id &&
        e.type === 'delivered' &&
        czIpc.events.items.filter((x) => x.messageId === id && x.type === 'delivered').length === 2,
      20_000,
      'delivered again at CZ',
    );
    expect(kzMia.inbox.items.filter((d) => d.envelope.id === id)).to.have.length(1);

    expect((await post(`/api/dlq/${nobody.ref}/drop`, { reason: 'x' })).status).to.equal(400);
    const dropped = await post(`/api/dlq/${nobody.ref}/drop`, { reason: 'test: from nobody' });
    expect(dropped.status).to.equal(200);
    expect(((await (await get('/api/dlq')).json()) as Listed).total).to.equal(0);
    const records = await eventually(async () => {
      const text = await readFile(pair.czConfig.records.auditFile!, 'utf8');
      const lines = text
        .split('\n')
        .filter((l) => l.includes('"decidedBy":"admin API'))
        .map((l) => JSON.parse(l) as Record<string, string>);
      return lines.length === 2 ? lines : undefined;
    });
    expect(records.map((r) => [r.type, r.refersTo])).to.deep.equal([
      ['dead-letter-replay', failed.ref],
      ['dead-letter-drop', nobody.ref],
    ]);
  });

  it('a late receipt resolves the letter: listed as resolved, not replayable, and status exits 0', async () => {
    const { messageId: id } = await czIpc.client.submit(example('request', 'dlq-late-1') as SubmissionInput);
    await czIpc.events.waitFor((e) => e.messageId === id && e.type === 'delivered', 20_000, 'delivered');
    await failAtCz(id);
    const [open] = await waitFor(pair.czConfig, (v) => v.messageId === id);
    const before = await cli('status', '--config', czFile);
    expect(before.code, 'an open letter').to.equal(1);
    expect(before.stdout).to.contain('dead letters:        1  (accord dlq list)');

    // The peer's receipt comes late: the sealed message reaches KZ once more, which answers with its
    // stored receipt.
    const sent = (await czState().sealedCopy((await czState().getSent(id))!))!;
    await publishRaw(names(pair.kzConfig.namespace).ingress, Buffer.from(sent.jwe, 'latin1'));
    await waitFor(pair.czConfig, (v) => v.state === 'resolved');
    const [resolved] = (await list(czFile, '--resolved')).letters;
    expect(resolved).to.include({ ref: open!.ref, state: 'resolved' });
    expect(resolved!.replay).to.have.property('refused').that.contains('resolved');

    const after = await cli('status', '--config', czFile);
    expect(after.stdout).to.contain('dead letters:        1  (0 open, 1 resolved by a late receipt');
    expect(after.code, after.stdout).to.equal(0);
    const json = JSON.parse((await cli('status', '--config', czFile, '--json')).stdout) as Record<
      string,
      unknown
    >;
    expect(json).to.include({ deadLetters: 1, deadLettersOpen: 0, healthy: true });
    const replay = await cli('dlq', 'replay', open!.ref, '--config', czFile);
    expect(replay.code).to.equal(1);
    expect(replay.stderr).to.contain('dlq.not_replayable').and.to.contain('resolved');

    // Dropped, the letter's resolution is forgotten too.
    expect(
      (await cli('dlq', 'drop', open!.ref, '--config', czFile, '--reason', 'delivered late')).code,
    ).to.equal(0);
    expect(await redis.hlen(`${cz().redisPrefix}dlq:resolved`)).to.equal(0);
  });
});
