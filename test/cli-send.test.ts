/**
 * `accord send`, `accord treaty suspend | terminate` and `accord directory announce` answer what the
 * gateway decided: exit 0 when it accepted the submission (or knew it already), 1 with `code: message
 * (at path)` when it rejected it or gave no answer in time; `--no-wait` returns once the broker has the
 * submission. An urgent submission enters the outbox on the urgent lane (AMQP priority), as the
 * client's do. The README's examples work with the shipped configs.
 */
import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import amqp from 'amqplib';
import { names, type Config } from '../src/config.js';
import { queueArgsFor } from '../src/topology.js';
import { URGENT_PRIORITY } from '../src/pipeline/dispatch.js';
import {
  AMQP_URL,
  configFileFor,
  example,
  pairConfigs,
  removeNamespace,
  runCli,
  startPair,
  uniqueStem,
  type Pair,
  type TestAuthority,
} from './helpers/harness.js';
import { tempDir } from './helpers/temp.js';

const cli = (...args: string[]) => runCli(args);
const dir = tempDir('send');

/** Write a submission to a file for `accord send`. */
function messageFile(sub: Record<string, unknown>): string {
  const file = join(dir, `${uniqueStem()}.json`);
  writeFileSync(file, JSON.stringify(sub));
  return file;
}

/** KZ's NCB looks for a missing person (urgent); `religion` without a necessity statement is refused. */
function personSearch(key: string, withReligion = false): Record<string, any> {
  const sub = example('person-search', key);
  if (withReligion) sub.body.person.religion = 'example';
  return sub;
}

describe('accord send and the notices answer what the gateway decided', function () {
  this.timeout(60_000);
  let pair: Pair;
  let kzNcb: TestAuthority;
  let kzFile: string;
  let czFile: string;

  before(async () => {
    pair = await startPair();
    // A running case system of the same authority: the CLI must not take its events away.
    kzNcb = await pair.authority(pair.kzConfig, 'kz-ncb');
    kzFile = configFileFor(pair.kzConfig);
    czFile = configFileFor(pair.czConfig);
  });
  after(async () => {
    await pair.close();
  });

  it('send: an accepted submission exits 0 and says so; the case system still gets the other events', async () => {
    const key = `${uniqueStem()}/ok`;
    const r = await cli('send', '--config', kzFile, '--file', messageFile(personSearch(key)));
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^accepted: person-search /m);
    const id = /message id (\S+)/.exec(r.stdout)?.[1];
    expect(id).to.be.a('string');
    await kzNcb.events.waitFor((e) => e.type === 'sent' && e.messageId === id, 20_000, 'sent');
    const again = await cli('send', '--config', kzFile, '--file', messageFile(personSearch(key)));
    expect(again.code, again.stderr).to.equal(0);
    expect(again.stdout).to.match(/^duplicate: person-search .*message id (\S+)/m);
    expect(again.stdout).to.contain(id);
  });

  it('send: a sender not in the directory is refused at once (the gateway would tell nobody)', async () => {
    const sub = personSearch(`${uniqueStem()}/stranger`);
    sub.from = 'kz-nobody';
    const r = await cli('send', '--config', kzFile, '--file', messageFile(sub));
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/^auth\.unknown_authority: .+ \(at from\)$/m);
  });

  it('send: a submission the gateway rejects exits 1 with code: message (at path)', async () => {
    const key = `${uniqueStem()}/religion`;
    const r = await cli('send', '--config', kzFile, '--file', messageFile(personSearch(key, true)));
    expect(r.code, r.stdout).to.equal(1);
    expect(r.stderr).to.match(/^policy\.sensitive_without_necessity: .+ \(at handling\.necessity\)$/m);
    expect(r.stdout).not.to.match(/accepted|published/);
  });

  it('send --no-wait: exits 0 once the broker has it; the gateway decides afterwards', async () => {
    const key = `${uniqueStem()}/no-wait`;
    const r = await cli(
      'send',
      '--no-wait',
      '--config',
      kzFile,
      '--file',
      messageFile(personSearch(key, true)),
    );
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^published: person-search /m);
    const ev = await kzNcb.events.waitFor((e) => e.idempotencyKey === key, 20_000, 'the rejection');
    expect(ev).to.include({ type: 'rejected', code: 'policy.sensitive_without_necessity' });
  });

  it('treaty suspend with the shipped config: accepted from the notifying authority, refused from another', async () => {
    const ok = await cli(
      'treaty',
      'suspend',
      '--config',
      kzFile,
      '--from',
      'kz-mia',
      '--scope',
      'drug-trafficking',
      '--reason',
      'Review of the national drug-enforcement mandate',
    );
    expect(ok.code, ok.stderr).to.equal(0);
    expect(ok.stdout).to.match(/^accepted: suspension-notice /m);
    const no = await cli('treaty', 'suspend', '--config', kzFile, '--from', 'kz-ncb', '--reason', 'not ours');
    expect(no.code, no.stdout).to.equal(1);
    expect(no.stderr).to.match(/^treaty\.not_notifying_authority: .+ \(at from\)$/m);
  });

  it('directory announce and treaty terminate with the shipped config are accepted', async () => {
    const announce = await cli(
      'directory',
      'announce',
      '--config',
      czFile,
      '--from',
      'cz-pp-ipc',
      '--to',
      'kz-mia',
      '--reason',
      'a new duty officer',
    );
    expect(announce.code, announce.stderr).to.equal(0);
    expect(announce.stdout).to.match(/^accepted: directory-update /m);
    const terminate = await cli(
      'treaty',
      'terminate',
      '--config',
      czFile,
      '--from',
      'cz-pp-ipc',
      '--note',
      'Note verbale 1/2027',
    );
    expect(terminate.code, terminate.stderr).to.equal(0);
    expect(terminate.stdout).to.match(/^accepted: termination-notice /m);
  });
});

describe('accord send without a gateway: the urgent lane, --no-wait and the timeout', function () {
  this.timeout(60_000);
  let config: Config;
  let file: string;
  let conn: amqp.ChannelModel;
  let ch: amqp.Channel;

  before(async () => {
    // The queues and the submit exchange as a gateway leaves them when it stops: no consumer.
    config = pairConfigs(uniqueStem()).kz;
    file = configFileFor(config);
    const n = names(config.namespace);
    conn = await amqp.connect(AMQP_URL);
    ch = await conn.createChannel();
    for (const q of [n.outbox, n.events('kz-ncb')]) {
      await ch.assertQueue(q, { durable: true, arguments: queueArgsFor(config, q) });
    }
    await ch.assertExchange(n.submitExchange, 'direct', { durable: true });
    await ch.bindQueue(n.outbox, n.submitExchange, n.outbox);
  });
  after(async () => {
    await conn.close();
    await removeNamespace(config);
  });

  it('an urgent submission enters the outbox with the urgent AMQP priority, a normal one without', async () => {
    const outbox = names(config.namespace).outbox;
    const urgent = await cli(
      'send',
      '--no-wait',
      '--config',
      file,
      '--file',
      messageFile(personSearch('u-1')),
    );
    expect(urgent.code, urgent.stderr).to.equal(0);
    const normal = personSearch('n-1');
    normal.priority = 'normal';
    expect((await cli('send', '--no-wait', '--config', file, '--file', messageFile(normal))).code).to.equal(
      0,
    );
    const first = await ch.get(outbox, { noAck: true });
    const second = await ch.get(outbox, { noAck: true });
    expect(first && first.properties.priority).to.equal(URGENT_PRIORITY);
    expect(first && first.properties.userId, 'user_id: the connection’s user').to.equal('guest');
    expect(second && second.properties.priority).to.equal(undefined);
  });

  it('no answer within --timeout: exit 1 and says so', async () => {
    const r = await cli(
      'send',
      '--timeout',
      '1',
      '--config',
      file,
      '--file',
      messageFile(personSearch('t-1')),
    );
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/no answer from the gateway within 1 s/);
    await ch.purgeQueue(names(config.namespace).outbox);
  });
});
