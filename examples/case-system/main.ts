/**
 * A small case system on the Accord client, for integrators to read and copy. Two desks, one per
 * party, as two police case systems would run them:
 * - CZ's International Police Cooperation desk (cz-pp-ipc) submits a request and waits for the reply;
 * - KZ's Ministry desk (kz-mia) answers every request it receives with a reply.
 * Each desk handles its inbox (requests, replies, refusal and referral notices, orders) and prints its
 * status events.
 *
 * Run with one command: `npm run example`. It talks to the demo gateways (`npm run demo:gateways`) and
 * starts them itself, in a child process, when they are not running. Exit 0 once the reply arrived.
 *
 * In your own project the client comes from the package: `import { CaseSystemClient } from
 * 'accord-gateway/client'`; here it is imported from the source tree.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import {
  CaseSystemClient,
  isDestroyOrder,
  type InboxDelivery,
  type StatusEvent,
} from '../../src/client/index.js';
import type { Config } from '../../src/config.js';
import { ROOT, demoConfigs, gatewayRunning } from '../../src/demo/setup.js';

const out = (desk: string, line: string): void => {
  process.stdout.write(`[${desk}] ${line}\n`);
};

/** One authority's desk: its client, its inbox handler and its event log. */
class Desk {
  private constructor(
    readonly name: string,
    readonly client: CaseSystemClient,
  ) {}

  static async open(
    config: Config,
    authority: string,
    onInbox: (d: InboxDelivery, desk: Desk) => Promise<void> | void,
  ) {
    const client = await CaseSystemClient.connect({
      url: config.amqp.url,
      ...(config.amqp.tls ? { tls: config.amqp.tls } : {}),
      party: config.party,
      authority,
      ...(config.namespace ? { namespace: config.namespace } : {}),
    });
    const desk = new Desk(`${config.party} ${authority}`, client);
    await client.onEvent((e: StatusEvent) => {
      out(
        desk.name,
        `event ${e.type}${e.kind ? ` (${e.kind})` : ''}${e.code ? ` ${e.code}` : ''} ${e.messageId ?? ''}`,
      );
      for (const w of desk.eventWaiters) w(e);
    });
    // A delivery is acknowledged once the handler resolves: a crash in between means it comes again.
    await client.onInbox(async (item) => {
      if (isDestroyOrder(item)) {
        // Art. 10(5), 18: destroy the data in the case system first, then confirm.
        out(desk.name, `destroy order for ${item.messageId} (${item.reason}, due ${item.dueAt})`);
        await client.confirmDestruction(item.messageId, item.reason);
        return;
      }
      await onInbox(item, desk);
    });
    return desk;
  }

  readonly eventWaiters: ((e: StatusEvent) => void)[] = [];

  /** The first status event matching `pred`, within `ms`. */
  event(pred: (e: StatusEvent) => boolean, ms: number): Promise<StatusEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no such event within ${ms} ms`)), ms);
      this.eventWaiters.push((e) => {
        if (!pred(e)) return;
        clearTimeout(timer);
        resolve(e);
      });
    });
  }
}

/** Start the demo gateways in a child process, unless they are running; resolves when they are. */
async function ensureGateways(cz: Config): Promise<ChildProcess | undefined> {
  if (await gatewayRunning(cz)) return undefined;
  process.stdout.write('demo gateways not running; starting them (npm run demo:gateways)\n');
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'src', 'demo', 'gateways.js')], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: process.env,
  });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the demo gateways exited with ${code}`)));
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString('utf8').includes('running')) resolve();
    });
  });
  return child;
}

async function main(): Promise<number> {
  const { cz, kz } = demoConfigs();
  const gateways = await ensureGateways(cz);
  let resolveReply: (d: InboxDelivery) => void = () => undefined;
  const replied = new Promise<InboxDelivery>((resolve) => (resolveReply = resolve));

  const czDesk = await Desk.open(cz, 'cz-pp-ipc', (d, desk) => {
    out(
      desk.name,
      `inbox ${d.envelope.kind} ${d.envelope.id} from ${d.envelope.from.party} ${d.envelope.from.authority}`,
    );
    if (d.envelope.kind === 'reply') resolveReply(d);
  });
  const kzDesk = await Desk.open(kz, 'kz-mia', async (d, desk) => {
    const env = d.envelope;
    out(
      desk.name,
      `inbox ${env.kind} ${env.id}; purposes ${d.handling.purposes.join(', ')}; signed by ${d.verification.signatureKid}`,
    );
    if (env.kind !== 'request') return;
    // The answer to a request: a reply, addressed back to the requesting authority.
    const answer = await desk.client.submit(
      'reply',
      {
        inReplyTo: env.id,
        summary: 'The passport N12345678 is reported stolen since 2026-10-02.',
        travelDocuments: [{ number: 'N12345678', type: 'passport', status: 'stolen', issuingState: 'KZ' }],
      },
      { to: env.from, idempotencyKey: `reply/${env.id}` },
    );
    out(
      desk.name,
      `reply ${answer.outcome}${answer.outcome === 'rejected' ? ` ${answer.code} at ${answer.path}` : ''}`,
    );
  });

  try {
    const result = await czDesk.client.submit(
      'request',
      {
        crimeCategories: ['forgery', 'illegal-migration'],
        informationTypes: ['travel-documents'],
        assistanceTypes: ['search-objects'],
        summary: 'Status of a Kazakh passport presented at Prague airport with signs of alteration',
        travelDocuments: [{ number: 'N12345678', type: 'passport', issuingState: 'KZ' }],
      },
      { to: { party: 'KZ', authority: 'kz-mia' }, idempotencyKey: `example/${Date.now()}` },
    );
    if (result.outcome === 'rejected') {
      out(czDesk.name, `request rejected: ${result.code} at ${result.path ?? '-'}`);
      return 1;
    }
    out(czDesk.name, `request ${result.outcome}: ${result.messageId}`);
    let timer: NodeJS.Timeout | undefined;
    const reply = await Promise.race([
      replied,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('no reply within 30 s')), 30_000);
      }),
    ]).finally(() => clearTimeout(timer));
    out(czDesk.name, `reply received: ${reply.envelope.kind === 'reply' ? reply.envelope.body.summary : ''}`);
    // Art. 10(5): the reply's personal data are destroyed by the provider's deadline, or as soon as
    // they are no longer needed. Here: at once, confirmed to the gateway, which records it.
    out(czDesk.name, `reply's data must be destroyed by ${reply.handling.destroyBy ?? '(none set)'}`);
    const recorded = czDesk.event((e) => e.kind === 'destruction-confirmed', 15_000);
    await czDesk.client.confirmDestruction(reply.envelope.id, 'no-longer-needed');
    const answer = await recorded;
    out(czDesk.name, `destruction ${answer.type}: ${answer.message ?? answer.code ?? ''}`);
    return answer.type === 'accepted' ? 0 : 1;
  } finally {
    await czDesk.client.close();
    await kzDesk.client.close();
    if (gateways) {
      gateways.kill('SIGTERM');
      await new Promise((resolve) => gateways.once('exit', resolve));
    }
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`example case system: ${(err as Error).message}\n`);
    process.exitCode = 1;
  },
);
