/**
 * `accord dlq list | show | replay | drop` against a real gateway's dead-letter queue: a message parked
 * because its sender was not yet in the directory is replayed after the directory changed, and is
 * delivered; an outbox letter that keeps only a hash cannot be replayed; dropping needs a reason.
 */
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { Redis } from 'ioredis';
import { names } from '../src/config.js';
import { RedisDirectory } from '../src/store/redis-directory.js';
import {
  REDIS_URL,
  eventually,
  publishRaw,
  sealAsCz,
  startPair,
  testEnvelope,
  type Pair,
  type TestAuthority,
  configFileFor,
  runCli,
} from './helpers/harness.js';

const cli = (...args: string[]) => runCli(args);

describe('accord dlq', function () {
  this.timeout(60_000);
  let pair: Pair;
  let kzMia: TestAuthority;
  let file: string;

  before(async () => {
    pair = await startPair();
    kzMia = await pair.authority(pair.kzConfig, 'kz-mia');
    file = configFileFor(pair.kzConfig);
  });
  after(async () => {
    await pair.close();
  });

  it('accord status: consuming, nothing dead-lettered, every queue there (exit 0)', async () => {
    const r = await cli('status', '--config', file);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain('gateway consuming:   yes').and.to.contain('dead letters:        0');
    expect(r.stdout).to.match(new RegExp(`${pair.kzConfig.namespace}\\.accord\\.inbox\\.kz-mia\\s+0 / 1`));
    expect(r.stdout).not.to.contain('missing');
  });

  it('lists and shows a parked message, replays it once it can be accepted, and it is delivered', async () => {
    const env = testEnvelope({ from: { party: 'CZ', authority: 'cz-nctc' } });
    await publishRaw(names(pair.kzConfig.namespace).ingress, await sealAsCz(pair.czConfig, env));
    const listed = await eventually(
      async () => {
        const r = await cli('dlq', 'list', '--config', file);
        return r.stdout.includes(env.id as string) ? r : undefined;
      },
      20_000,
      'the letter in the list',
    );
    expect(listed.stdout).to.match(
      new RegExp(
        `ingress\\s+auth\\.unknown_authority\\s+${env.id as string}\\s+\\d+ B\\s+open\\s+replayable \\(ingress\\)`,
      ),
    );
    const shown = await cli('dlq', 'show', env.id as string, '--config', file);
    expect(shown.code).to.equal(0);
    const letter = JSON.parse(shown.stdout) as Record<string, unknown>;
    expect(letter).to.include({ code: 'auth.unknown_authority', messageId: env.id, origin: 'ingress' });
    expect(letter).to.have.property('jweBytes').that.is.greaterThan(100);
    expect(shown.stdout).not.to.contain('eyJ'); // the sealed message itself is not printed

    // The operator approves CZ's new authority (Art. 13), then replays the letter.
    const redis = new Redis(REDIS_URL);
    try {
      const dir = new RedisDirectory(redis, names(pair.kzConfig.namespace).redisPrefix);
      const authorities = [
        ...pair.kzConfig.peer.authorities,
        { id: 'cz-nctc', name: 'New centre', contact: {} },
      ];
      await dir.putPending({
        id: '00000000-0000-4000-8000-0000000000aa',
        party: 'CZ',
        fromAuthority: 'cz-pp-ipc',
        receivedAt: new Date().toISOString(),
        authorities,
        reason: 'test',
      });
      await dir.approve('00000000-0000-4000-8000-0000000000aa', 'test', new Date());
    } finally {
      redis.disconnect();
    }
    await new Promise((r) => setTimeout(r, 300)); // the gateway hears of the approval by pub/sub
    const replayed = await cli('dlq', 'replay', env.id as string, '--config', file);
    expect(replayed.code, replayed.stderr).to.equal(0);
    expect(replayed.stderr).to.contain('dlq.replayed');
    await kzMia.inbox.waitFor((d) => d.envelope.id === env.id, 20_000, 'the replayed message delivered');
    expect((await cli('dlq', 'list', '--config', file)).stdout).not.to.contain(env.id as string);
  });

  it('refuses to replay a letter that carries no message, and drops a letter only with a reason', async () => {
    // A submission from no listed authority is parked with its hash only.
    const kzOutbox = names(pair.kzConfig.namespace).outbox;
    await publishRaw(kzOutbox, Buffer.from(JSON.stringify({ kind: 'request', from: 'nobody' })));
    const listed = await eventually(
      async () => {
        const r = await cli('dlq', 'list', '--config', file);
        const line = r.stdout.split('\n').find((l) => l.includes('outbox'));
        return line;
      },
      20_000,
      'the outbox letter',
    );
    const ref = listed.split(/\s+/)[0]!;
    const status = await cli('status', '--config', file);
    expect(status.code, 'status exits 1 while letters wait').to.equal(1);
    expect(status.stdout).to.contain('dead letters:        1  (accord dlq list)');
    const replay = await cli('dlq', 'replay', ref, '--config', file);
    expect(replay.code).to.equal(1);
    expect(replay.stderr).to.contain('dlq.not_replayable').and.to.contain('submits it again');
    expect((await cli('dlq', 'drop', ref, '--config', file)).code).to.equal(2);
    const dropped = await cli(
      'dlq',
      'drop',
      ref,
      '--config',
      file,
      '--reason',
      'test garbage from a misconfigured client',
    );
    expect(dropped.code).to.equal(0);
    expect(dropped.stderr).to.contain('dlq.dropped').and.to.contain('test garbage');
    expect((await cli('dlq', 'list', '--config', file)).stdout).not.to.contain(ref);
    // Art. 10(6): the drop and its reason are in the running gateway's audit log (handed over by the CLI).
    const record = await eventually(
      async () => {
        const text = await readFile(pair.kzConfig.records.auditFile!, 'utf8');
        const line = text.split('\n').find((l) => l.includes('"type":"dead-letter-drop"'));
        return line === undefined ? undefined : (JSON.parse(line) as Record<string, string>);
      },
      10_000,
      'the drop record',
    );
    expect(record.reason).to.match(/^[a-z_.]+ \(outbox\): test garbage from a misconfigured client$/);
    expect(record.refersTo).to.match(new RegExp(`^${ref}`));
    expect(record.decidedBy).to.match(/^accord dlq drop \(/);
  });
});
