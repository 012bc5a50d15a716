/**
 * The console's message log and trace pages on the message log's own query and trace
 * (admin/message-log.ts, admin/message-trace.ts): the same filters as `accord messages`, the same
 * timeline as `accord trace`. Empty form fields are no filter.
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Config } from '../config.js';
import type { ConsoleSource } from './console-pages.js';
import { parseMessageQuery, queryMessages } from './message-log.js';
import { traceMessage } from './message-trace.js';

export function consoleMessages(
  redis: Redis,
  prefix: string,
  config: Config,
): Pick<ConsoleSource, 'messages' | 'trace'> {
  return {
    async messages(params) {
      const raw: Record<string, string> = {};
      for (const [k, v] of params) if (v.trim() !== '' && !(k in raw)) raw[k] = v.trim();
      const page = await queryMessages(redis, prefix, parseMessageQuery(raw));
      return {
        items: page.items.map((m) => ({
          id: m.id,
          at: m.at,
          direction: m.direction,
          kind: m.kind,
          status: m.status,
          from: m.from,
          to: m.to,
        })),
        next: page.next,
      };
    },
    async trace(id) {
      const uuid = z.uuid().safeParse(id);
      if (!uuid.success) return undefined;
      const t = await traceMessage(redis, config, uuid.data);
      return t.known ? t : undefined;
    },
  };
}
