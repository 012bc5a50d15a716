/**
 * A gateway starts while the peer's broker is away: it takes its own authorities' submissions in,
 * keeps them on the outbox (in the broker, not in its memory), says `peer-broker` in /readyz, and
 * delivers each once when the peer's broker returns. It refuses to start only on what a retry cannot
 * fix (a refused login), with exit 2; an unreachable own broker is an operation that failed, exit 1.
 *
 * There is one RabbitMQ here: the "peer's broker" is a port this test owns, closed at first, then a
 * TCP proxy to 127.0.0.1:5672 opened on it.
 */
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import amqp from 'amqplib';
import type { SubmissionInput } from '../src/client/index.js';
import { names, type Config } from '../src/config.js';
import { TcpProxy } from '../scripts/chaos/tcp-proxy.js';
import { freePort } from '../scripts/chaos/services.js';
import {
  AMQP_URL,
  configFileFor,
  eventually,
  example,
  pairConfigs,
  removeNamespace,
  runCli,
  startGatewayCli,
  startPair,
  uniqueStem,
  type Pair,
} from './helpers/harness.js';

const TOKEN = 'test-only-admin-token-start-outage-0123456789';
const TOKEN_ENV = 'ACCORD_TEST_OUTAGE_ADMIN_TOKEN';

/** Ready messages and consumers of a queue, as the broker counts them. */
async function queueState(queue: string): Promise<{ messageCount: number; consumerCount: number }> {
  const conn = await amqp.connect(AMQP_URL);
  try {
    const ch = await conn.createChannel();
    const { messageCount, consumerCount } = await ch.checkQueue(queue);
    return { messageCount, consumerCount };
  } finally {
    await conn.close();
  }
}

/** The CLI config file of `config`, with `edit` applied to its JSON. */
function configFileWith(config: Config, edit: (raw: Record<string, any>) => void): string {
  const file = configFileFor(config);
  const raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, any>;
  edit(raw);
  writeFileSync(file, JSON.stringify(raw));
  return file;
}

describe('start while the peer’s broker is unreachable', function () {
  this.timeout(120_000);

  describe('in process: 100 submissions wait on the outbox, then go once each', () => {
    let pair: Pair | undefined;
    let proxy: TcpProxy | undefined;
    let port: number;
    before(async () => {
      process.env[TOKEN_ENV] = TOKEN;
      port = await freePort(); // nothing listens here until the proxy opens
    });
    after(async () => {
      await pair?.close();
      await proxy?.close();
      delete process.env[TOKEN_ENV];
    });

    it('starts, keeps the submissions on the outbox, reports peer-broker, and delivers all 100 once when the peer returns', async () => {
      pair = await startPair((raw) => {
        if (raw.party !== 'CZ') return;
        raw.admin = { port: 0, tokenEnv: TOKEN_ENV };
        raw.peer.amqpUrl = `amqp://guest:guest@127.0.0.1:${port}`;
      });
      const address = pair.cz.adminAddress!;
      const readyz = async () => {
        const res = await fetch(`http://${address.address}:${address.port}/readyz`, {
          headers: { authorization: `Bearer ${TOKEN}` },
        });
        return { status: res.status, body: (await res.json()) as { failing: string[] } };
      };
      const czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
      const kzMia = await pair.authority(pair.kzConfig, 'kz-mia');

      const ids: string[] = [];
      for (let i = 0; i < 100; i++) {
        const sub = example('request', `outage-${i}`) as SubmissionInput;
        ids.push((await czIpc.client.submit(sub)).messageId);
      }
      const outbox = names(pair.czConfig.namespace).outbox;
      // Every submission is in the broker, ready; none taken into the gateway's memory.
      const held = await eventually(
        async () => {
          const q = await queueState(outbox);
          return q.messageCount === 100 ? q : undefined;
        },
        30_000,
        'the 100 submissions ready in the outbox',
      );
      expect(held).to.deep.equal({ messageCount: 100, consumerCount: 0 });
      const down = await readyz();
      expect(down.status).to.equal(503);
      expect(down.body.failing).to.deep.equal(['peer-broker']);
      expect(kzMia.inbox.items).to.have.length(0);

      proxy = await new TcpProxy('127.0.0.1', 5672).start(port);
      for (const id of ids) {
        await czIpc.events.waitFor(
          (e) => e.type === 'delivered' && e.messageId === id,
          60_000,
          `delivered ${id}`,
        );
      }
      const got = kzMia.inbox.items.map((d) => d.envelope.id);
      expect(got).to.have.length(100);
      expect([...new Set(got)].sort()).to.deep.equal([...ids].sort());
      expect((await readyz()).status).to.equal(200);
      expect((await queueState(outbox)).consumerCount).to.equal(1);
    });
  });

  describe('accord start', () => {
    const { cz, kz } = pairConfigs(uniqueStem());
    after(async () => {
      await removeNamespace(cz);
      await removeNamespace(kz);
    });

    it('runs with the peer’s broker unreachable, and stops cleanly on SIGTERM', async () => {
      const port = await freePort();
      const file = configFileWith(cz, (raw) => {
        raw.peer.amqpUrl = `amqp://guest:guest@127.0.0.1:${port}`;
      });
      const gw = await startGatewayCli(['--config', file]);
      expect(gw.output()).to.include('the peer’s broker cannot be reached; starting without it');
      expect(await gw.stop()).to.equal(0);
    });

    it('refuses to start when the peer’s broker refuses the login: exit 2, config.broker_refused, one line', async () => {
      const file = configFileWith(cz, (raw) => {
        raw.peer.amqpUrl = 'amqp://guest:not-the-password@127.0.0.1:5672';
      });
      const r = await runCli(['start', '--config', file]);
      expect(r.code).to.equal(2);
      expect(r.stderr.trim().split('\n')).to.have.length(1);
      expect(r.stderr).to.match(/^config\.broker_refused: .* \(at peer\.amqpUrl\)$/m);
      expect(r.stderr).not.to.include('not-the-password');
    });

    it('an unreachable own broker is an operation that failed: exit 1, infra.unavailable', async () => {
      const port = await freePort();
      const file = configFileWith(cz, (raw) => {
        raw.amqp.url = `amqp://guest:guest@127.0.0.1:${port}`;
      });
      const r = await runCli(['start', '--config', file]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.match(/^infra\.unavailable: cannot connect to RabbitMQ/);
      expect(r.stderr.trim().split('\n')).to.have.length(1);
    });
  });
});
