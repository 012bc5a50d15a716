/**
 * The conformance kit (docs/protocol.md, "Conformance kit"): it plays the peer gateway against a
 * running gateway of either party, Accord or not. For each vector class it seals a fresh message with
 * its own keys at the current time, publishes it to the tested gateway's broker as a peer does, and
 * watches what the protocol lets a peer see: a signed receipt with its status for what is taken in,
 * no receipt (within a bounded wait) for what is parked, nothing for a heartbeat. Each observation is
 * a check of the requirement ids the class names; what a peer cannot observe is reported SKIP with
 * the reason.
 */
import { randomUUID } from 'node:crypto';
import type { ChannelModel, ConsumeMessage, Options } from 'amqplib';
import { names, type Config } from '../config.js';
import { generatePartyKeys, publicHalf } from '../crypto/keygen.js';
import { KeyRing } from '../crypto/keyring.js';
import { open } from '../crypto/open.js';
import { Envelope, URGENT_PRIORITY, type EnvelopeOf } from '../domain/envelope.js';
import { parseJson, validate } from '../domain/parse.js';
import { redactUrl } from '../log.js';
import { queueArgs } from '../topology.js';
import { connectBroker } from '../transport/connect.js';
import {
  VECTOR_CLASSES,
  receiptDigest,
  type BuiltVector,
  type VectorClass,
  type VectorContext,
} from './classes.js';
import { sealerFor } from './craft.js';
import { collate, type Check, type KitReport } from './report.js';

/** How the kit runs. */
export interface KitOptions {
  /** The config of the party the kit plays (its keys, directory, own broker and namespace). */
  config: Config;
  /** The AMQP URL of the tested gateway's broker, where the kit publishes. */
  peerUrl: string;
  /** How long a receipt may take, in milliseconds. @defaultValue 10000 */
  receiptTimeoutMs?: number;
  /**
   * How long the kit waits for a receipt that must not come, in milliseconds, counted from when every
   * message that must be answered has been answered. @defaultValue 3000
   */
  silenceMs?: number;
  /** The tested gateway's size limit in bytes. @defaultValue the kit config's crypto.maxMessageBytes */
  maxMessageBytes?: number;
  /** Send the classes whose effect on the tested gateway lasts (a termination notice). @defaultValue false */
  withDisruptive?: boolean;
  /** Only these classes (by name). @defaultValue every class */
  classes?: readonly string[];
}

/**
 * Requirements no vector class makes observable from the peer side, and why. The kit reports each
 * as SKIP, so that its report lists every MUST of docs/protocol.md.
 */
export const NOT_OBSERVABLE: Readonly<Record<string, string>> = {
  'P-AMQP-2': 'a sender’s duty: the kit is the sender',
  'P-AMQP-4': 'a sender’s duty: the kit is the sender (it publishes persistent and mandatory)',
  'P-AMQP-5': 'a sender’s duty: the kit is the sender (it sets x-accord-copy)',
  'P-AMQP-6': 'the urgent lane is inside the receiver; a peer sees no ordering it can rely on',
  'P-AMQP-7': 'what the receiver does not read leaves nothing a peer can see',
  'P-AMQP-8': 'a sender’s duty: the kit is the sender (it publishes on a confirm channel)',
  'P-AMQP-9': 'when the receiver acknowledges is inside it',
  'P-JOSE-1':
    'the kit sends the profile’s structure only; other structures are in the vectors and crypto tests',
  'P-JOSE-5': 'not sent by the kit: IV and tag sizes are checked by the crypto tests',
  'P-JOSE-7': 'not sent by the kit: signature sizes are checked by the crypto tests',
  'P-JOSE-10': 'needs the receiver to hold a key of another algorithm',
  'P-JOSE-11': 'needs a key the receiver has revoked or retired',
  'P-ENV-3': 'not sent by the kit: Art. 10(2) flags are checked by the policy tests',
  'P-ENV-5': 'a sender’s duty (new ids): the kit makes a new id per message',
  'P-RCPT-6': 'the sender’s side of a receipt: needs a message the tested gateway sent',
  'P-KIND-2': 'a referral depends on the receiver’s rules',
  'P-KIND-3': 'a sender’s duty',
  'P-KEY-2': 'the overlap of old and new keys needs a rotation on the tested side',
  'P-TREATY-1': 'a sender’s duty',
  'P-TREATY-2': 'an operator’s approval on the tested side',
  'P-TREATY-3': 'fifteen days of the tested gateway’s clock',
  'P-TREATY-4': 'six months of the tested gateway’s clock',
  'P-DUP-1': 'a sender’s duty: the kit resends the same bytes',
  'P-DUP-2': 'a sender’s duty',
  'P-DUP-3':
    'deliveries to the tested side’s authorities are not visible to a peer; the same receipt is ([P-DUP-4])',
  'P-DUP-5': 'needs the tested gateway to lose its de-duplication record',
  'P-HB-1': 'a sender’s duty',
  'P-HB-3': 'a sender’s duty',
  'P-VER-4': 'a sender’s and operators’ duty',
};

/** Why a class with a precondition is not sent by the kit. */
const PRECONDITION_REASON: Record<NonNullable<VectorClass['precondition']>, string> = {
  'sent-a-message': 'needs a message the tested gateway sent; a peer cannot make it send one',
  'dedup-record-lost': 'needs the tested gateway to lose its de-duplication record',
};

interface SeenReceipt {
  content: Buffer;
  contentType: string | undefined;
  envelope: EnvelopeOf<'receipt'>;
  atMs: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Run every class against the tested gateway and return the report. */
export async function runConformance(opts: KitOptions): Promise<KitReport> {
  const { config } = opts;
  const receiptTimeoutMs = opts.receiptTimeoutMs ?? 10_000;
  const silenceMs = opts.silenceMs ?? 3000;
  const started = Date.now();
  const ring = await KeyRing.load(config.keys, config.peer.publicJwks);
  const fresh = await generatePartyKeys('conformance');
  const unpinned = fresh.privateSet.keys.find((k) => k.use === 'sig')!;
  const announced = publicHalf((await generatePartyKeys('conformance')).privateSet.keys[0]!);
  const own = names(config.namespace);
  const peer = names(config.peer.namespace);

  const receipts = new Map<string, SeenReceipt[]>();
  const waiters = new Set<() => void>();
  let unreadable = 0;

  const ownConn = await connectBroker(config.amqp, { name: 'accord-conformance' });
  let peerConn: ChannelModel | undefined;
  try {
    peerConn = await connectBroker(
      { amqpUrl: opts.peerUrl, tls: config.peer.tls },
      { name: 'accord-conformance' },
    );
    const inCh = await ownConn.createChannel();
    // The kit stands in for its party's gateway: the same ingress, exchange and binding ([P-AMQP-1]).
    await inCh.assertQueue(own.ingress, { durable: true, arguments: queueArgs(config) });
    await inCh.assertExchange(own.peerExchange, 'direct', { durable: true });
    await inCh.bindQueue(own.ingress, own.peerExchange, own.ingress);
    const onMessage = async (m: ConsumeMessage) => {
      try {
        const { payload } = await open(m.content, ring, config.crypto);
        // Checked as strictly as any envelope ([P-ENV-1]); one that is not counts as unreadable.
        const env = validate(Envelope, parseJson(payload, config.crypto.maxMessageBytes), 'envelope');
        if (env.kind !== 'receipt') return;
        const id = env.body.forMessageId;
        const seen: SeenReceipt = {
          content: m.content,
          contentType: m.properties.contentType as string | undefined,
          envelope: env,
          atMs: Date.now(),
        };
        receipts.set(id, [...(receipts.get(id) ?? []), seen]);
        waiters.forEach((w) => w());
      } catch {
        unreadable++;
      }
    };
    await inCh.consume(own.ingress, (m) => {
      if (m === null) return;
      inCh.ack(m);
      void onMessage(m);
    });

    const waitReceipts = async (id: string, count: number, timeoutMs: number) => {
      const deadline = Date.now() + timeoutMs;
      while ((receipts.get(id)?.length ?? 0) < count && Date.now() < deadline) {
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(t);
            waiters.delete(done);
            resolve();
          };
          const t = setTimeout(done, Math.max(0, deadline - Date.now()));
          waiters.add(done);
        });
      }
      return receipts.get(id) ?? [];
    };

    const publish = async (built: BuiltVector, copy: string) => {
      const ch = await peerConn!.createConfirmChannel();
      let returned = false;
      ch.on('return', () => (returned = true));
      // The broker's reason (NOT_FOUND, ACCESS_REFUSED…) comes as the channel's error.
      let channelError: string | undefined;
      ch.on('error', (err: Error) => (channelError = err.message));
      const props: Options.Publish = {
        persistent: true,
        mandatory: true,
        contentType: 'application/jose',
        messageId: built.id,
        headers: { 'x-accord-copy': randomUUID() },
        ...(built.priority === 'urgent' ? { priority: URGENT_PRIORITY } : {}),
        ...(built.route === 'heartbeat' ? { expiration: '30000', priority: URGENT_PRIORITY } : {}),
      };
      const key = built.route === 'heartbeat' ? peer.heartbeatRoute : peer.ingress;
      try {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          new Promise<void>((resolve, reject) =>
            ch.publish(peer.peerExchange, key, Buffer.from(copy, 'ascii'), props, (err) =>
              err ? reject(err as Error) : resolve(),
            ),
          ),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error('no confirm within 10 s')), 10_000);
          }),
        ]).finally(() => clearTimeout(timer));
        return returned
          ? ({ routed: false, why: `returned unroutable by ${peer.peerExchange} with key ${key}` } as const)
          : ({ routed: true } as const);
      } catch (err) {
        await sleep(50); // the channel's error, when there is one, follows the failed confirm
        const why = channelError ?? String((err as Error).message);
        return { routed: false, why: `the broker refused it: ${why.slice(0, 160)}` };
      } finally {
        await ch.close().catch(() => undefined);
      }
    };

    const ctxNow = (): VectorContext => ({
      nowMs: Date.now(),
      from: { party: config.party, authority: config.authorities[0]!.id },
      to: { party: config.peer.party, authority: config.peer.authorities[0]!.id },
      ownDirectory: config.authorities.map((a) => ({ id: a.id, name: a.name })),
      sealer: sealerFor(ring),
      idFor: () => randomUUID(),
      unpinnedSigningKey: unpinned,
      announcedKey: announced,
      maxMessageBytes: opts.maxMessageBytes ?? config.crypto.maxMessageBytes,
    });

    const classes = VECTOR_CLASSES.filter((c) => !opts.classes || opts.classes.includes(c.name));
    const running = new Map<string, Promise<Check[]>>();
    let answeredAll: () => void = () => undefined;
    const answered = new Promise<void>((r) => (answeredAll = r));
    // Made when the first class waits for it, so that a run with nothing to wait for ends at once.
    let silenceWait: Promise<void> | undefined;
    const silence = () => (silenceWait ??= answered.then(() => sleep(silenceMs)));
    const skip = (c: VectorClass, why: string): Check[] =>
      c.requirements.map((requirement) => ({ requirement, vector: c.name, verdict: 'SKIP', evidence: why }));

    const runClass = async (c: VectorClass): Promise<Check[]> => {
      if (c.precondition) return skip(c, `${c.name}: ${PRECONDITION_REASON[c.precondition]}`);
      if (c.disruptive && !opts.withDisruptive) {
        return skip(c, `${c.name}: its effect on the tested gateway lasts; sent only with --with-disruptive`);
      }
      if (c.after) {
        const before = await running.get(c.after);
        if (before && before.every((b) => b.verdict === 'SKIP')) {
          return skip(c, `${c.name}: sent only after ${c.after}, which was not taken in`);
        }
      }
      const checks: Check[] = [];
      const add = (requirement: string, ok: boolean, evidence: string) =>
        checks.push({
          requirement,
          vector: c.name,
          verdict: ok ? 'PASS' : 'FAIL',
          evidence: `${c.name}: ${evidence}`,
        });
      const built = c.build(ctxNow());
      if (!built) return skip(c, `${c.name}: nothing to send`);
      const sentAt = Date.now();
      const first = await publish(built, built.copies[0]!);
      const e = c.expect;
      if (!first.routed) {
        if (e.outcome === 'heard') {
          return skip(c, `${c.name}: ${first.why}: the gateway takes no heartbeats, which [P-HB-3] allows`);
        }
        // A broker that refuses a message over the size limit refuses it before the gateway can
        // ([P-JOSE-12]: it SHOULD); any other refusal (no such exchange, no permission) is a failure.
        const overLimit =
          Buffer.byteLength(built.copies[0]!) > (opts.maxMessageBytes ?? config.crypto.maxMessageBytes);
        if (e.outcome === 'parked' && overLimit && first.why.startsWith('the broker refused')) {
          for (const r of c.requirements)
            add(r, true, `${first.why} (the broker’s limit, before the gateway)`);
          return checks;
        }
        add('P-AMQP-1', false, `message ${built.id} ${first.why}`);
        return checks;
      }
      add('P-AMQP-1', true, `message ${built.id} routed by ${peer.peerExchange} to the ingress`);
      const tookMs = (r: SeenReceipt) => r.atMs - sentAt;
      switch (e.outcome) {
        case 'taken-in': {
          const [r] = await waitReceipts(built.id, 1, receiptTimeoutMs);
          if (!r && c.mayRefuse) return skip(c, `${c.name}: ${c.mayRefuse}`);
          if (!r) {
            for (const req of c.requirements) {
              add(req, false, `no receipt within ${receiptTimeoutMs / 1000} s for message ${built.id}`);
            }
            return checks;
          }
          const status = r.envelope.body.status;
          const wanted = e.accept ?? [e.status];
          const ok = (wanted as string[]).includes(status);
          const evidence = `receipt status ${status} for message ${built.id} in ${tookMs(r)} ms${ok ? '' : `; expected ${wanted.join(' or ')}`}`;
          for (const req of c.requirements) {
            if (req === 'P-RCPT-3') {
              const fieldsOk =
                same(r.envelope.from, built.to) &&
                same(r.envelope.to, built.from) &&
                r.envelope.priority === built.priority;
              add(
                req,
                fieldsOk,
                `receipt for ${built.id}: from ${JSON.stringify(r.envelope.from)}, to ${JSON.stringify(r.envelope.to)}, priority ${r.envelope.priority}`,
              );
            } else if (req === 'P-RCPT-4') {
              const digest = receiptDigest(built.copies[0]!);
              add(
                req,
                r.envelope.body.jweSha256 === digest,
                `receipt jweSha256 ${r.envelope.body.jweSha256 === digest ? 'is' : 'is not'} the SHA-256 of the JWE sent (${built.id})`,
              );
            } else if (req === 'P-AMQP-3') {
              add(
                req,
                r.contentType === 'application/jose',
                `receipt for ${built.id} content-type ${r.contentType ?? '(none)'}`,
              );
            } else {
              add(req, ok, evidence);
            }
          }
          return checks;
        }
        case 'duplicate': {
          const [r1] = await waitReceipts(built.id, 1, receiptTimeoutMs);
          if (!r1) {
            add(
              'P-DUP-4',
              false,
              `no receipt within ${receiptTimeoutMs / 1000} s for the first copy of ${built.id}`,
            );
            return checks;
          }
          const againAt = Date.now();
          await publish(built, built.copies[1]!);
          const [, r2] = await waitReceipts(built.id, 2, receiptTimeoutMs);
          if (!r2)
            add(
              'P-DUP-4',
              false,
              `no receipt within ${receiptTimeoutMs / 1000} s for the second copy of ${built.id}`,
            );
          else {
            const equal = r2.content.equals(r1.content);
            add(
              'P-DUP-4',
              equal,
              `second copy of ${built.id} answered ${equal ? 'with the first receipt, byte for byte' : 'with another receipt'} in ${r2.atMs - againAt} ms`,
            );
          }
          return checks;
        }
        case 'heard':
        case 'parked': {
          await silence();
          const got = receipts.get(built.id) ?? [];
          const waited = ((Date.now() - sentAt) / 1000).toFixed(1);
          for (const req of c.requirements) {
            if (got[0]) {
              add(
                req,
                false,
                `receipt status ${got[0].envelope.body.status} for message ${built.id} in ${tookMs(got[0])} ms; expected none (${e.outcome === 'parked' ? `to be parked as ${e.code}` : 'a heartbeat'})`,
              );
            } else {
              const routed = built.route === 'heartbeat' ? `routed by ${peer.heartbeatRoute}; ` : '';
              add(req, true, `${routed}no receipt within ${waited} s for message ${built.id}`);
            }
          }
          return checks;
        }
        case 'receipt-accepted':
          return skip(c, `${c.name}: not observable from the peer side`);
      }
    };

    for (const c of classes) running.set(c.name, runClass(c));
    // The silence of a refusal counts from when every message that must be answered has been.
    const mustAnswer = classes.filter(
      (c) => c.expect.outcome === 'taken-in' || c.expect.outcome === 'duplicate',
    );
    void Promise.allSettled(mustAnswer.map((c) => running.get(c.name)!)).then(() => answeredAll());
    const checks = (await Promise.all([...running.values()])).flat();
    if (unreadable > 0) {
      checks.push({
        requirement: 'P-RCPT-3',
        vector: 'ingress',
        verdict: 'FAIL',
        evidence: `${unreadable} message(s) on the kit’s ingress could not be opened with its keys or do not match the envelope schema`,
      });
    }
    const checked = new Set(checks.map((c) => c.requirement));
    for (const [requirement, why] of Object.entries(NOT_OBSERVABLE)) {
      if (!checked.has(requirement))
        checks.push({ requirement, vector: '-', verdict: 'SKIP', evidence: why });
    }
    await inCh.close().catch(() => undefined);
    return collate(checks, {
      tested: {
        party: config.peer.party,
        namespace: config.peer.namespace ?? '',
        broker: redactUrl(opts.peerUrl),
      },
      as: { party: config.party, namespace: config.namespace ?? '' },
      startedAt: new Date(started).toISOString(),
      durationMs: Date.now() - started,
    });
  } finally {
    await peerConn?.close().catch(() => undefined);
    await ownConn.close().catch(() => undefined);
  }
}
