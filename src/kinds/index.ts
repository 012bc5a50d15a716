/**
 * The registry of message kinds: every kind of src/domain/messages.ts with its spec, gathered from one
 * file per family. The pipelines ask here what a kind needs; they hold no branch on kinds.
 */
import type { Envelope } from '../domain/envelope.js';
import type { MessageKind, SubmittableKind } from '../domain/messages.js';
import type { Submission } from '../domain/submission.js';
import type { KindSpecs, LocalSpec, ReceiptedSpec, ReceiveSpec, SendSpec } from './spec.js';
import { correctionConfirmedSpec, dataProtection, destructionConfirmedSpec } from './data-protection.js';
import { gatewayKeys } from './gateway-keys.js';
import { heartbeat } from './heartbeat.js';
import { exportSpec, onwardTransfer } from './onward-transfer.js';
import { receipts } from './receipts.js';
import { decisionSpec, oralRequestSpec, requests } from './requests.js';
import { treatyNotices } from './treaty-notices.js';

const KINDS: KindSpecs<MessageKind> = {
  ...requests,
  ...treatyNotices,
  ...gatewayKeys,
  ...dataProtection,
  ...onwardTransfer,
  ...receipts,
  ...heartbeat,
};

/**
 * A spec seen through the registry: its functions take any message of the union. Each spec is only
 * ever called with messages of its own kind (looked up by that kind), which is what this one cast says.
 */
interface AnySpec {
  articles: string;
  send?: SendSpec<SubmittableKind>;
  receive?: ReceiveSpec<MessageKind>;
  receipted?: ReceiptedSpec;
}

/** The spec of a kind (an empty one for a name that is not a kind). */
export function kindSpec(kind: string): AnySpec {
  const spec = Object.hasOwn(KINDS, kind) ? KINDS[kind as MessageKind] : undefined;
  return (spec as AnySpec | undefined) ?? { articles: '' };
}

/** How a submission of its kind is sent. */
export function sendSpecOf(sub: Submission): SendSpec<SubmittableKind> {
  return kindSpec(sub.kind).send ?? {};
}

/** How an envelope of its kind is taken in from the peer. */
export function receiveSpecOf(env: Envelope): ReceiveSpec<MessageKind> {
  return kindSpec(env.kind).receive ?? {};
}

/** What the receipt of a message of `kind` that we sent sets off. */
export function receiptedSpecOf(kind: string): ReceiptedSpec {
  return kindSpec(kind).receipted ?? {};
}

/** A submission the gateway keeps, as the registry sees it. */
export type AnyLocal = { kind: string; from: string; idempotencyKey: string };

/**
 * The submissions the gateway keeps instead of sealing them for the peer (a Map: a kind from outside
 * never reaches a prototype). Their kinds are those of src/domain/submission.ts's own schemas.
 */
const LOCAL = new Map<string, LocalSpec<AnyLocal>>(
  (
    [
      exportSpec,
      oralRequestSpec,
      decisionSpec,
      destructionConfirmedSpec,
      correctionConfirmedSpec,
    ] as unknown as LocalSpec<AnyLocal>[]
  ).map((spec) => [kindOfSchema(spec), spec]),
);

function kindOfSchema(spec: LocalSpec<AnyLocal>): string {
  return (spec.schema as unknown as { shape: { kind: { value: string } } }).shape.kind.value;
}

/** The spec of a submission the gateway keeps, if `kind` is one. */
export function localSpecOf(kind: string | undefined): LocalSpec<AnyLocal> | undefined {
  return kind === undefined ? undefined : LOCAL.get(kind);
}
