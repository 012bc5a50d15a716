import { expect } from 'chai';
import { passed, report, runChaos } from '../scripts/chaos/runner.js';

// The short version of `npm run chaos`: a few hundred messages, each fault once, on a RabbitMQ node
// and a Redis server of the suite's own (so nothing else on the machine is disturbed).
describe('chaos (short): nothing lost, nothing delivered twice', () => {
  it('reconciles 300 messages through a RabbitMQ kill, a Redis kill, both gateways killed and a cut link', async function () {
    this.timeout(300_000);
    const lines: string[] = [];
    const result = await runChaos({
      messages: 300,
      rate: 30,
      linkCutS: 5,
      quietS: 60,
      seed: 4242,
      say: (l) => lines.push(l),
    });
    const summary = report(result);
    process.stdout.write(`      ${summary.split('\n').at(-1)}\n`);
    expect(result.restarts.rabbitmq, summary).to.be.greaterThan(0);
    expect(result.restarts.redis, summary).to.equal(1);
    expect(result.restarts.gateway_cz, summary).to.be.greaterThan(0);
    expect(result.restarts.gateway_kz, summary).to.be.greaterThan(0);
    expect(result.restarts.link_cuts, summary).to.equal(1);
    expect(result.sent, summary).to.equal(300);
    expect(passed(result), `${summary}\n${lines.join('\n')}`).to.equal(true);
  });
});
