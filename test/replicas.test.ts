/**
 * docs/cluster.md: two gateway processes per party on one broker and one Redis, as competing consumers.
 * Each replica has its own audit file (one writer per file); the second replicas seal and open on
 * worker threads (`crypto.workers`), so the crypto pool is exercised end to end as well.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import type { SubmissionInput } from '../src/client/index.js';
import type { Config } from '../src/config.js';
import { Gateway } from '../src/gateway.js';
import { configFileFor, example, memoryLogger, runCli, startPair, type Pair } from './helpers/harness.js';

const MESSAGES = 30;

/** The config of a second replica: same party, namespaces, keys and peer; its own audit file. */
function replicaOf(config: Config): Config {
  return {
    ...config,
    crypto: { ...config.crypto, workers: 2 },
    records: { ...config.records, auditFile: config.records.auditFile!.replace(/\.jsonl$/, '-r2.jsonl') },
  };
}

/** Ids of the messages a party's audit file records as received. */
function receivedIn(file: string): string[] {
  return (
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as { type: string; messageId?: string })
      // Art. 10(6) records of receipt (of a message, not the signed receipts).
      .filter((r) => r.type === 'receipt' && r.messageId !== undefined)
      .map((r) => r.messageId!)
  );
}

describe('cluster: two gateway processes per party (docs/cluster.md)', () => {
  let pair: Pair;
  let replicas: Gateway[] = [];

  beforeEach(async () => {
    pair = await startPair();
    const { log } = memoryLogger();
    replicas = [
      await Gateway.start(replicaOf(pair.czConfig), log.child({ gw: 'CZ-r2' })),
      await Gateway.start(replicaOf(pair.kzConfig), log.child({ gw: 'KZ-r2' })),
    ];
  });

  afterEach(async () => {
    for (const r of replicas) await r.stop();
    await pair.close();
  });

  it('delivers every message exactly once with its receipt, whichever replica takes it; each replica keeps its own verifiable audit chain', async () => {
    const czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
    const kzMia = await pair.authority(pair.kzConfig, 'kz-mia');
    const ids: string[] = [];
    for (let i = 0; i < MESSAGES; i++) {
      const { messageId } = await czIpc.client.submit(example('request', `replica-${i}`) as SubmissionInput);
      ids.push(messageId);
    }
    for (const id of ids) {
      await czIpc.events.waitFor(
        (e) => e.type === 'delivered' && e.messageId === id,
        30_000,
        `receipt ${id}`,
      );
    }
    for (const r of replicas) await r.stop();
    await pair.cz.stop();
    await pair.kz.stop();

    const delivered = kzMia.inbox.items.map((d) => d.envelope.id).filter((id) => ids.includes(id));
    expect(delivered.length, 'deliveries').to.equal(MESSAGES);
    expect(new Set(delivered).size, 'distinct messages').to.equal(MESSAGES);

    // Both KZ processes took messages, and between them recorded each one once.
    const kzFiles = [pair.kzConfig, replicaOf(pair.kzConfig)].map((c) => c.records.auditFile!);
    const perReplica = kzFiles.map((f) => receivedIn(f).filter((id) => ids.includes(id)));
    for (const got of perReplica) expect(got.length, 'messages taken by a replica').to.be.above(0);
    expect(perReplica.flat().sort()).to.deep.equal([...ids].sort());

    for (const config of [pair.czConfig, pair.kzConfig]) {
      for (const file of [config.records.auditFile!, replicaOf(config).records.auditFile!]) {
        const r = await runCli(['audit', 'verify', '--config', configFileFor(config), '--file', file]);
        expect(r.code, r.stdout + r.stderr).to.equal(0);
      }
    }
  });
});
