/**
 * `accord messages`: the message log — the messages this gateway sent and received, newest first,
 * filtered by authority, kind, status, direction, time range or id, a page at a time (admin/message-log.ts).
 * Metadata only; `accord trace <id>` tells one message's story.
 */
import type { Command } from 'commander';
import type { Redis } from 'ioredis';
import {
  parseMessageQuery,
  queryMessages,
  MESSAGE_STATUSES,
  type MessagePage,
} from '../admin/message-log.js';
import { loadConfig, names } from '../config.js';
import { connectForCommand } from '../store/redis-connect.js';
import { EXIT_OK, reportError } from './exit.js';

interface Options {
  config: string;
  authority?: string;
  kind?: string;
  status?: string;
  direction?: string;
  from?: string;
  to?: string;
  id?: string;
  limit?: string;
  cursor?: string;
  json?: boolean;
}

/** The page as a table, with the next page's option when there is one. */
function table(page: MessagePage): string {
  const rows = page.items.map((m) => [
    m.at,
    m.id,
    m.direction,
    m.kind,
    `${m.from} → ${m.to}`,
    m.status,
    m.grounds === undefined ? '' : m.grounds.join(','),
  ]);
  const head = ['time', 'id', 'dir', 'kind', 'from → to', 'status', 'grounds'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    `${cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd()}\n`;
  const body = page.items.length === 0 ? 'no messages match\n' : [head, ...rows].map(line).join('');
  return `${body}${page.next === undefined ? '' : `next: --cursor ${page.next}\n`}`;
}

export function registerMessages(program: Command): void {
  program
    .command('messages')
    .description('the message log: search the messages sent and received (metadata only), newest first')
    .requiredOption('--config <file>', 'the gateway config')
    .option('--authority <id>', 'sent by or to this authority (an id, or PARTY/id)')
    .option('--kind <kind>', 'of this kind (request, reply, refusal-notice, …)')
    .option('--status <status>', `in this status: ${MESSAGE_STATUSES.join(', ')}`)
    .option('--direction <dir>', 'in (received) or out (sent)')
    .option('--from <time>', 'recorded at or after (ISO 8601)')
    .option('--to <time>', 'recorded at or before (ISO 8601; a day includes all of it)')
    .option('--id <id>', 'the message id, or its first characters')
    .option('--limit <n>', 'rows per page (1 to 500; default 50)')
    .option('--cursor <cursor>', 'the next page, as the previous page printed it')
    .option('--json', 'print {items, next} as one JSON object')
    .action(async (opts: Options) => {
      let redis: Redis | undefined;
      try {
        const { config: file, json, ...filters } = opts;
        const query = parseMessageQuery(filters, (name) => `--${name}`);
        const config = loadConfig(file);
        redis = await connectForCommand(config.redis);
        const page = await queryMessages(redis, names(config.namespace).redisPrefix, query);
        process.stdout.write(json === true ? `${JSON.stringify(page)}\n` : table(page));
        process.exitCode = EXIT_OK;
      } catch (err) {
        process.exitCode = reportError(err);
      } finally {
        redis?.disconnect();
      }
    });
}
