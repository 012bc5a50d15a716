/**
 * The dead letters of one gateway — list, show, replay, drop — for the `accord dlq` command and the
 * admin API alike (src/cli/dlq.ts, src/admin/dlq-api.ts).
 *
 * Each operation takes every letter off `accord.dlq` (basic.get, unacked), works on them, and puts back
 * (nack, requeue) what it did not settle; the operations of one instance run one after the other. A
 * letter is named by its reference: its `letterId` (a UUID given when it was made), or for a letter
 * made before letters had one, the first 16 hex characters of the SHA-256 of its bytes, with `.2`,
 * `.3`… for byte-identical copies in queue order (identical copies are interchangeable). A reference
 * may be shortened to a unique prefix of 8 or more characters; a letter's `messageId` or `inputSha256`
 * names it too while only one letter carries it.
 *
 * Replay follows replay-rules.ts: an ingress letter's sealed message goes back to the ingress; a
 * `delivery.no_receipt` letter becomes a resend request on the outbox (the gateway sends the stored
 * sealed message to the peer again). Every replay and drop is recorded (Art. 10(6)) with the letter's
 * reference, code and origin, never its content, before the letter leaves the queue.
 */
import { createHash } from 'node:crypto';
import type { ChannelModel, GetMessage } from 'amqplib';
import type { Redis } from 'ioredis';
import type { AuditInput } from '../audit/log.js';
import type { Names } from '../config.js';
import { DeadLetterSchema, type DeadLetterRecord } from '../domain/delivery.js';
import { AccordError } from '../errors.js';
import { LETTER_HEADER } from '../pipeline/context.js';
import { RESEND_HEADER } from '../pipeline/dispatch.js';
import { RedisDeadLetterMarks } from '../store/redis-dead-letters.js';
import { RedisMessageState } from '../store/redis-state.js';
import { replayableWhen, replayVerdict, type ReplayTarget } from './replay-rules.js';

/** At most this many letters are read per operation. */
export const MAX_LETTERS = 10_000;

/** One letter as `list`, `show` and the admin API give it: no content, the sealed message as its size. */
export interface LetterView {
  ref: string;
  /** False for a message in accord.dlq that is not an Accord dead letter (only `ref` and `bytes`). */
  valid: boolean;
  bytes: number;
  letterId?: string;
  at?: string;
  origin?: 'outbox' | 'ingress';
  code?: string;
  message?: string;
  path?: string;
  messageId?: string;
  kid?: string;
  inputSha256?: string;
  inputBytes?: number;
  jweBytes?: number;
  /** `resolved`: a late receipt delivered its message; it stays as evidence but no longer counts. */
  state: 'open' | 'resolved';
  resolvedAt?: string;
  replay: { to: ReplayTarget; when?: string } | { refused: string };
}

/** Which letters `list` shows. */
export interface LetterFilter {
  /** A code (`crypto.unknown_kid`), or a family (`crypto.` or `crypto.*`). */
  code?: string | undefined;
  origin?: 'outbox' | 'ingress' | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
  state?: 'open' | 'resolved' | undefined;
}

/** What a replay did. */
export interface ReplayOutcome {
  ref: string;
  code: string;
  origin: 'outbox' | 'ingress';
  to: ReplayTarget;
  queue: string;
  messageId?: string;
}

/** What a drop did. */
export interface DropOutcome {
  ref: string;
  code: string;
  origin?: 'outbox' | 'ingress';
}

export interface DeadLetterOptions {
  names: Names;
  /** A connection to this party's broker as the gateway's user (the caller closes nothing: we do). */
  connect: () => Promise<ChannelModel>;
  /** The broker user `connect` logs in as: a resend request carries it as AMQP `user_id`. */
  brokerUser: string;
  redis: Redis;
  /** Hand a record to the audit log (the gateway's, directly or through the CLI's handover). */
  record: (input: AuditInput) => Promise<void>;
  /** Who acts, for the records' `decidedBy`: `accord dlq drop (alice)`, `admin API drop (token)`… */
  actor: (action: 'replay' | 'drop') => string;
}

interface Taken {
  msg: GetMessage;
  letter: DeadLetterRecord | undefined;
  ref: string;
}

/** The reference of each taken message, in queue order (see the module comment). */
export function referencesOf(letters: { content: Buffer; letterId: string | undefined }[]): string[] {
  const seen = new Map<string, number>();
  return letters.map(({ content, letterId }) => {
    const base = letterId ?? createHash('sha256').update(content).digest('hex').slice(0, 16);
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    return n === 1 ? base : `${base}.${n}`;
  });
}

/** Whether a view passes a filter. */
export function matches(view: LetterView, f: LetterFilter): boolean {
  if (f.code !== undefined) {
    const family = f.code.endsWith('.*') ? f.code.slice(0, -1) : f.code.endsWith('.') ? f.code : undefined;
    if (view.code === undefined) return false;
    if (family === undefined ? view.code !== f.code : !view.code.startsWith(family)) return false;
  }
  if (f.origin !== undefined && view.origin !== f.origin) return false;
  if (f.state !== undefined && view.state !== f.state) return false;
  const at = view.at === undefined ? undefined : Date.parse(view.at);
  if (f.since !== undefined && (at === undefined || at < f.since.getTime())) return false;
  if (f.until !== undefined && (at === undefined || at > f.until.getTime())) return false;
  return true;
}

function viewOf(t: Taken, resolved: ReadonlyMap<string, string>): LetterView {
  const { letter, ref } = t;
  if (letter === undefined) {
    return {
      ref,
      valid: false,
      bytes: t.msg.content.length,
      state: 'open',
      replay: { refused: 'not an Accord dead letter' },
    };
  }
  const resolvedAt =
    letter.source === 'outbox' && letter.code === 'delivery.no_receipt' && letter.messageId !== undefined
      ? resolved.get(letter.messageId)
      : undefined;
  const verdict = replayVerdict({
    source: letter.source,
    code: letter.code,
    messageId: letter.messageId,
    hasJwe: letter.jwe !== undefined,
    resolvedAt,
  });
  const when = 'to' in verdict && verdict.to === 'ingress' ? replayableWhen(letter.code) : undefined;
  const { jwe, source, ...rest } = letter;
  return {
    ref,
    valid: true,
    bytes: t.msg.content.length,
    ...rest,
    origin: source,
    ...(jwe === undefined ? {} : { jweBytes: jwe.length }),
    state: resolvedAt === undefined ? 'open' : 'resolved',
    ...(resolvedAt === undefined ? {} : { resolvedAt }),
    replay: when === undefined ? verdict : { ...verdict, when },
  };
}

/** Find the one letter `ref` names (see the module comment). */
function find(taken: Taken[], ref: string): Taken {
  const wanted = ref.trim().toLowerCase();
  if (wanted.length < 8) {
    throw new AccordError('dlq.unknown_letter', 'name a letter by at least 8 characters of its reference', {
      path: 'ref',
    });
  }
  const exact = taken.filter((t) => t.ref === wanted);
  if (exact.length === 1) return exact[0]!;
  const hits = taken.filter(
    (t) =>
      t.ref.startsWith(wanted) ||
      t.letter?.messageId === wanted ||
      (wanted.length >= 16 && t.letter?.inputSha256.startsWith(wanted) === true),
  );
  if (hits.length === 1) return hits[0]!;
  if (hits.length === 0) {
    throw new AccordError('dlq.unknown_letter', `no dead letter has the reference ${wanted}`, {
      path: 'ref',
    });
  }
  throw new AccordError(
    'dlq.ambiguous_letter',
    `${hits.length} dead letters match ${wanted} (${hits
      .slice(0, 5)
      .map((t) => t.ref)
      .join(', ')}${hits.length > 5 ? ', …' : ''}); give the full reference`,
    { path: 'ref' },
  );
}

export class DeadLetters {
  private turn: Promise<unknown> = Promise.resolve();
  private readonly marks: RedisDeadLetterMarks;
  private readonly state: RedisMessageState;

  constructor(private readonly opts: DeadLetterOptions) {
    this.marks = new RedisDeadLetterMarks(opts.redis, opts.names.redisPrefix);
    this.state = new RedisMessageState(opts.redis, opts.names.redisPrefix);
  }

  /** The letters that pass `filter`, in queue order; `truncated` when the queue held more than we read. */
  list(
    filter: LetterFilter = {},
  ): Promise<{ letters: LetterView[]; total: number; open: number; truncated: boolean }> {
    return this.session(async ({ taken, truncated }) => {
      const resolved = await this.marks.resolved();
      const all = taken.map((t) => viewOf(t, resolved));
      return {
        letters: all.filter((v) => matches(v, filter)),
        total: all.length,
        open: all.filter((v) => v.state === 'open').length,
        truncated,
      };
    });
  }

  /** One letter. */
  show(ref: string): Promise<LetterView> {
    return this.session(async ({ taken }) => viewOf(find(taken, ref), await this.marks.resolved()));
  }

  /**
   * Replay one letter where its origin says (replay-rules.ts), record it, and take it off the queue.
   * @throws AccordError `dlq.not_replayable` with the reason, when it cannot be replayed.
   */
  replay(ref: string, by?: string): Promise<ReplayOutcome> {
    return this.session(async ({ taken, settle, publish }) => {
      const t = find(taken, ref);
      const view = viewOf(t, await this.marks.resolved());
      const letter = t.letter;
      if (letter === undefined || 'refused' in view.replay) {
        const reason = 'refused' in view.replay ? view.replay.refused : 'not an Accord dead letter';
        throw new AccordError(
          'dlq.not_replayable',
          `letter ${t.ref} (${view.code ?? 'unknown'}): ${reason}`,
          {
            path: 'ref',
          },
        );
      }
      const { to } = view.replay;
      const n = this.opts.names;
      const messageId = letter.messageId === undefined ? {} : { messageId: letter.messageId };
      if (to === 'outbox') {
        const id = letter.messageId!;
        // The gateway resends from its stored record; say now when there is none to resend from.
        const sent = await this.state.getSent(id);
        if (sent === null || sent.deliveredAt !== undefined) {
          throw new AccordError(
            'dlq.not_replayable',
            sent === null
              ? `letter ${t.ref}: the gateway no longer holds the sealed message (its record expired or was lost); the case system submits it again`
              : `letter ${t.ref}: the message was delivered at ${sent.deliveredAt}; drop the letter`,
            { path: 'ref', messageId: id },
          );
        }
        await publish(n.outbox, Buffer.alloc(0), {
          contentType: 'application/json',
          type: 'accord.resend',
          messageId: id,
          userId: this.opts.brokerUser,
          headers: { [RESEND_HEADER]: id, [LETTER_HEADER]: t.ref },
        });
      } else {
        await publish(n.ingress, Buffer.from(letter.jwe!, 'latin1'), {
          contentType: 'application/jose',
          ...messageId,
          headers: { [LETTER_HEADER]: t.ref },
        });
      }
      const queue = to === 'outbox' ? n.outbox : n.ingress;
      // Art. 10(6): recorded before the letter leaves the queue; a failed record leaves it there (a
      // second replay is harmless: the receiver de-duplicates).
      await this.opts.record({
        type: 'dead-letter-replay',
        ...messageId,
        reason: `${letter.code} (${letter.source}): replayed to ${queue}`,
        decidedBy: by ?? this.opts.actor('replay'),
        refersTo: t.ref,
      });
      settle(t);
      return { ref: t.ref, code: letter.code, origin: letter.source, to, queue, ...messageId };
    });
  }

  /** Remove one letter for good, with the reason recorded first (Art. 10(6)). */
  drop(ref: string, reason: string, by?: string): Promise<DropOutcome> {
    const why = reason.trim().slice(0, 400);
    if (why.length < 3) {
      return Promise.reject(
        new AccordError('schema.invalid', 'give a reason (3 characters or more)', { path: 'reason' }),
      );
    }
    return this.session(async ({ taken, settle }) => {
      const t = find(taken, ref);
      const letter = t.letter;
      const code = letter?.code ?? 'not an Accord dead letter';
      await this.opts.record({
        type: 'dead-letter-drop',
        ...(letter?.messageId === undefined ? {} : { messageId: letter.messageId }),
        reason: `${code} (${letter?.source ?? 'unknown'}): ${why}`,
        decidedBy: by ?? this.opts.actor('drop'),
        refersTo: t.ref,
      });
      settle(t);
      const id = letter?.messageId;
      if (letter?.code === 'delivery.no_receipt' && id !== undefined) {
        const others = taken.some(
          (o) => o !== t && o.letter?.code === 'delivery.no_receipt' && o.letter.messageId === id,
        );
        if (!others) await this.marks.letterGone(id);
      }
      return { ref: t.ref, code, ...(letter === undefined ? {} : { origin: letter.source }) };
    });
  }

  /** Run `work` on every letter, one operation at a time; put back what it did not settle. */
  private session<T>(work: (s: Session) => Promise<T>): Promise<T> {
    const run = this.turn.then(async () => {
      const conn = await this.opts.connect();
      try {
        const ch = await conn.createChannel();
        const pub = await conn.createConfirmChannel();
        const publish = (queue: string, content: Buffer, props: PublishOptions) =>
          new Promise<void>((resolve, reject) =>
            pub.sendToQueue(queue, content, { persistent: true, ...props }, (err) =>
              err ? reject(err as Error) : resolve(),
            ),
          );
        const queue = this.opts.names.dlq;
        const msgs: GetMessage[] = [];
        let truncated = false;
        for (;;) {
          if (msgs.length >= MAX_LETTERS) {
            truncated = true;
            break;
          }
          const msg = await ch.get(queue, { noAck: false });
          if (msg === false) break;
          msgs.push(msg);
        }
        const letters = msgs.map((msg) => ({ msg, letter: parseLetter(msg.content) }));
        const refs = referencesOf(
          letters.map((l) => ({ content: l.msg.content, letterId: l.letter?.letterId })),
        );
        const taken: Taken[] = letters.map((l, i) => ({ ...l, ref: refs[i]! }));
        const settled = new Set<Taken>();
        try {
          const settle = (t: Taken) => {
            ch.ack(t.msg);
            settled.add(t);
          };
          return await work({ taken, truncated, settle, publish });
        } finally {
          for (const t of taken) if (!settled.has(t)) ch.nack(t.msg, false, true);
          // A round trip on the same channel: the broker has applied the acks and nacks before it answers.
          await ch.checkQueue(queue);
        }
      } finally {
        await conn.close();
      }
    });
    this.turn = run.catch(() => undefined);
    return run;
  }
}

/** What an operation gets: every letter taken, and how to settle one or publish with a confirm. */
interface Session {
  taken: Taken[];
  truncated: boolean;
  /** Ack the letter: it leaves the queue once the session ends. */
  settle: (t: Taken) => void;
  publish: (queue: string, content: Buffer, props: PublishOptions) => Promise<void>;
}

type PublishOptions = {
  contentType: string;
  type?: string;
  messageId?: string;
  userId?: string;
  headers: Record<string, string>;
};

function parseLetter(content: Buffer): DeadLetterRecord | undefined {
  try {
    const parsed = DeadLetterSchema.safeParse(JSON.parse(content.toString('utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
