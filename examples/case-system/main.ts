/**
 * A small case system on the Accord client, for integrators to read and copy. Two desks, one per
 * party, as two police case systems would run them:
 * - CZ's International Police Cooperation desk (cz-pp-ipc) submits a request and waits for the reply;
 * - KZ's Ministry desk (kz-mia) answers every request it receives with a reply.
 * Each desk handles its inbox (requests, replies, refusal and referral notices, orders) and prints its
 * status events.
 *
 * It talks to gateways that are already running: `--config FILE` names the broker, namespace and
 * authority of each desk (examples/case-system/desks.json is for the demo gateways of
 * `npm run demo:gateways`; `npm run example` starts those first when they are not running). It imports
 * nothing but the package's public client, `accord-gateway/client`, and zod for its own settings file.
 * Exit 0 once the reply arrived and its destruction was recorded; 1 when something was refused or
 * timed out; 2 for a bad command line or settings file.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import {
  CaseSystemClient,
  isDestroyOrder,
  type InboxDelivery,
  type StatusEvent,
} from 'accord-gateway/client';

/** One desk's connection: the gateway's broker (with this authority's user), its namespace, the authority. */
const DeskSettings = z.strictObject({
  url: z
    .string()
    .regex(/^amqps?:\/\//, 'an amqp:// or amqps:// URL')
    .max(2048),
  party: z.enum(['CZ', 'KZ']),
  namespace: z.string().max(100).optional(),
  authority: z.string().min(1).max(100),
});
type DeskSettings = z.infer<typeof DeskSettings>;

/** The settings file: who asks, who answers, and how long to wait for the answer. */
const Settings = z.strictObject({
  requester: DeskSettings,
  responder: DeskSettings,
  timeoutS: z.int().min(1).max(3600).default(30),
});
type Settings = z.infer<typeof Settings>;

class UsageError extends Error {}

function readSettings(argv: string[]): Settings {
  let file: string | undefined;
  try {
    ({
      values: { config: file },
    } = parseArgs({ args: argv, options: { config: { type: 'string' } }, strict: true }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (file === undefined)
    throw new UsageError('--config FILE is required (e.g. examples/case-system/desks.json)');
  let raw: unknown;
  try {
    const text = readFileSync(file, 'utf8');
    if (text.length > 64 * 1024) throw new Error('larger than 64 KiB');
    raw = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${file}: ${(err as Error).message}`);
  }
  const parsed = Settings.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    throw new UsageError(`${file}: ${first.path.join('.') || '(root)'}: ${first.message}`);
  }
  return parsed.data;
}

const out = (desk: string, line: string): void => {
  process.stdout.write(`[${desk}] ${line}\n`);
};

/** One authority's desk: its client, its inbox handler and its event log. */
class Desk {
  private constructor(
    readonly name: string,
    readonly client: CaseSystemClient,
  ) {}

  static async open(settings: DeskSettings, onInbox: (d: InboxDelivery, desk: Desk) => Promise<void> | void) {
    const client = await CaseSystemClient.connect({
      url: settings.url,
      party: settings.party,
      authority: settings.authority,
      ...(settings.namespace !== undefined ? { namespace: settings.namespace } : {}),
    });
    const desk = new Desk(`${settings.party} ${settings.authority}`, client);
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

async function main(): Promise<number> {
  const settings = readSettings(process.argv.slice(2));
  let resolveReply: (d: InboxDelivery) => void = () => undefined;
  const replied = new Promise<InboxDelivery>((resolve) => (resolveReply = resolve));

  const czDesk = await Desk.open(settings.requester, (d, desk) => {
    out(
      desk.name,
      `inbox ${d.envelope.kind} ${d.envelope.id} from ${d.envelope.from.party} ${d.envelope.from.authority}`,
    );
    if (d.envelope.kind === 'reply') resolveReply(d);
  });
  const kzDesk = await Desk.open(settings.responder, async (d, desk) => {
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
      {
        to: { party: settings.responder.party, authority: settings.responder.authority },
        idempotencyKey: `example/${Date.now()}`,
        timeoutMs: settings.timeoutS * 1000,
      },
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
        timer = setTimeout(
          () => reject(new Error(`no reply within ${settings.timeoutS} s`)),
          settings.timeoutS * 1000,
        );
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
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // Accord's errors carry a code (and often the field at fault): print them as one line.
    const { code, path } = err as { code?: unknown; path?: unknown };
    const where = typeof path === 'string' ? ` (at ${path})` : '';
    const prefix = typeof code === 'string' ? `${code}: ` : '';
    process.stderr.write(`example case system: ${prefix}${(err as Error).message}${where}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);
