/**
 * `npm run chaos`: the fault suite, not part of `npm test` (a short version is).
 *   npm run chaos -- [--messages 5000] [--rate 100] [--link-cut 30] [--seed N] [--quiet 120] [--replicas 1]
 *   npm run chaos -- --outage 600 [--rate 100]   (a long peer outage instead of the mixed faults)
 *   npm run chaos -- --cluster 3 [--messages 3000]  (a RabbitMQ cluster; its nodes killed instead)
 *   npm run chaos -- --redis-loss [--messages 3000]  (each party's Redis loses its data instead)
 * Prints progress, a table and one JSON line; exits 1 when anything was lost, duplicated,
 * unexpected, or left without a receipt.
 */
import { Command } from 'commander';
import { passed, report, runChaos } from './chaos/runner.js';

const program = new Command('chaos')
  .option('--messages <n>', 'messages from CZ to KZ', '5000')
  .option('--rate <n>', 'submissions per second', '100')
  .option('--link-cut <s>', 'seconds the link between the gateways stays cut', '30')
  .option('--quiet <s>', 'give up when nothing progresses this long after the last fault', '120')
  .option('--seed <n>', 'seed for the fault moments', String(Date.now() % 100000))
  .option('--replicas <n>', 'gateway processes per party (docs/cluster.md)', '1')
  .option(
    '--outage <s>',
    'instead of the mixed faults, cut the peer link this long while submitting (messages: rate × (s + 20) unless given)',
  )
  .option(
    '--cluster <n>',
    'a RabbitMQ cluster of n nodes on quorum queues; kills the node leading the ingress, later another',
  )
  .option(
    '--redis-loss',
    "instead of the mixed faults, each party's Redis loses its data (FLUSHALL): CZ's mid-run, KZ's during a link cut",
  )
  .parse(process.argv);
const o = program.opts<{
  messages: string;
  rate: string;
  linkCut: string;
  quiet: string;
  seed: string;
  replicas: string;
  outage?: string;
  cluster?: string;
  redisLoss?: boolean;
}>();
const outageS = o.outage === undefined ? undefined : Number(o.outage);
const messagesGiven = program.getOptionValueSource('messages') === 'cli';

const result = await runChaos({
  messages: outageS !== undefined && !messagesGiven ? Number(o.rate) * (outageS + 20) : Number(o.messages),
  rate: Number(o.rate),
  linkCutS: Number(o.linkCut),
  quietS: Number(o.quiet),
  seed: Number(o.seed),
  replicas: Number(o.replicas),
  ...(outageS === undefined ? {} : { outageS }),
  ...(o.cluster === undefined ? {} : { cluster: Number(o.cluster) }),
  ...(o.redisLoss === true ? { redisLoss: true } : {}),
  say: (line) => process.stdout.write(`${line}\n`),
});
const processes = result.replicas === 1 ? 'one gateway process' : `${result.replicas} gateway processes`;
process.stdout.write(
  `\nchaos run, seed ${o.seed}, ${processes} per party (logs in ${result.dir}):\n${report(result)}\n`,
);
process.exitCode = passed(result) ? 0 : 1;
