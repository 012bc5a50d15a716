/**
 * The console's dead-letter page on src/dlq/dead-letters.ts, the module `accord dlq` and the JSON API
 * use: the same references, the same replay rules, the same records (Art. 10(6)), here with the
 * console session or the bearer token named as who acted.
 */
import type { DeadLetters, LetterFilter } from '../dlq/dead-letters.js';
import type { ConsoleSource, LetterRow } from './console-pages.js';

const who = (actor: string, action: string) =>
  `${actor === 'console' ? 'admin console' : 'admin API'} ${action}`;

export function consoleLetters(letters: DeadLetters): NonNullable<ConsoleSource['deadLetters']> {
  return {
    async list(query) {
      const origin = query.get('origin');
      const state = query.get('state');
      const filter: LetterFilter = {
        code: query.get('code') || undefined,
        origin: origin === 'outbox' || origin === 'ingress' ? origin : undefined,
        state: state === 'open' || state === 'resolved' ? state : undefined,
      };
      const { letters: views } = await letters.list(filter);
      return views.map((v): LetterRow => ({
        ref: v.ref,
        at: v.at,
        origin: v.origin ?? 'unknown',
        code: v.code ?? 'not an Accord dead letter',
        messageId: v.messageId,
        replayRefused: 'refused' in v.replay ? v.replay.refused : undefined,
        resolved: v.state === 'resolved',
      }));
    },
    async replay(ref, actor) {
      const o = await letters.replay(ref, who(actor, 'replay'));
      return `replayed to ${o.queue}`;
    },
    async drop(ref, actor, reason) {
      await letters.drop(ref, reason, who(actor, 'drop'));
      return 'dropped (recorded with its reason)';
    },
  };
}
