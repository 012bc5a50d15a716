import { expect } from 'chai';
import { passed, report, runChaos, type ChaosResult } from '../scripts/chaos/runner.js';

// The short version of `npm run chaos`: a few hundred messages, each fault once, on a RabbitMQ node
// and a Redis server of the suite's own (so nothing else on the machine is disturbed).
/** The short run: 300 messages at 30/s, a 5 s link cut; its result, report and the suite's own lines. */
async function shortRun(seed: number, replicas?: number) {
  const lines: string[] = [];
  const result = await runChaos({
    messages: 300,
    rate: 30,
    linkCutS: 5,
    quietS: 60,
    seed,
    ...(replicas === undefined ? {} : { replicas }),
    say: (l) => lines.push(l),
    removeDir: true,
  });
  const summary = report(result);
  process.stdout.write(`      ${summary.split('\n').at(-1)}\n`);
  return { result, summary, context: `${summary}\n${lines.join('\n')}` };
}

/** Every fault forced inside a transfer was reached, in a transfer of two members or more. */
function expectForced(result: ChaosResult, summary: string) {
  expect(
    result.forced.map((f) => `${f.action} ${f.point}`),
    summary,
  ).to.deep.equal([
    'kill transfer-send:stored',
    'kill transfer-send:published',
    'kill transfer-intake:members',
    'hold transfer-intake:members',
    'kill transfer-intake:committed',
  ]);
  for (const f of result.forced) {
    expect(f.reached, summary).to.equal(true);
    expect(f.members, summary).to.be.at.least(2);
  }
}

describe('chaos (short): nothing lost, nothing delivered twice', () => {
  it('reconciles 300 messages through a RabbitMQ kill, a Redis kill, both gateways killed (also inside transfers), a broker kill between a transfer and its receipt, and a cut link', async function () {
    this.timeout(300_000);
    const { result, summary, context } = await shortRun(4242);
    expect(result.restarts.rabbitmq, summary).to.be.greaterThan(0);
    expect(result.restarts.redis, summary).to.equal(1);
    expect(result.restarts.gateway_cz, summary).to.be.greaterThan(0);
    expect(result.restarts.gateway_kz, summary).to.be.greaterThan(0);
    expect(result.restarts.link_cuts, summary).to.equal(1);
    expect(result.audit, summary).to.deep.include({ files: 2, verified: 2 });
    expect(result.sent, summary).to.equal(300 + result.burst_messages);
    expectForced(result, summary);
    expect(passed(result), context).to.equal(true);
  });

  // docs/cluster.md: two processes per party on one namespace, so the kills land on different replicas
  // and one lands on KZ's delivered-log active consumer while copies wait on its barrier.
  it('reconciles 300 messages with two gateway processes per party, each kill on another replica, one on the delivered-log active consumer', async function () {
    this.timeout(300_000);
    const { result, summary, context } = await shortRun(4243, 2);
    process.stdout.write(`      ${summary.split('\n').find((l) => l.startsWith('  gateway kills')) ?? ''}\n`);
    expect(result.replicas, summary).to.equal(2);
    expect(result.restarts.rabbitmq, summary).to.equal(3);
    expect(result.restarts.redis, summary).to.equal(1);
    expect(result.restarts.link_cuts, summary).to.equal(1);
    const killed = result.kills.map((k) => k.gateway);
    expect(killed.slice(0, 2), summary).to.deep.equal(['CZ r1', 'KZ r2']);
    expect(killed, summary).to.have.length(3);
    expect(killed[2], summary).to.match(/^KZ r[12]$/);
    expect(result.kills[2]?.activeConsumer, context).to.equal(true);
    expect(result.restarts.gateway_cz, summary).to.be.greaterThan(0);
    expect(result.restarts.gateway_kz, summary).to.be.greaterThan(1);
    expect(result.audit, summary).to.deep.include({ files: 4, verified: 4 });
    expect(result.sent, summary).to.equal(300 + result.burst_messages);
    expectForced(result, summary);
    expect(passed(result), context).to.equal(true);
  });
});
