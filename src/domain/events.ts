/**
 * Status events the gateway publishes to `accord.events.<authorityId>` about what that authority sent.
 */
import { z } from 'zod';
import { Address, IdempotencyKey, Timestamp } from './common.js';

export const EVENT_TYPES = [
  'accepted',
  'rejected',
  'sent',
  'delivered',
  'failed',
  'duplicate',
  /** A request this authority sent was refused (Art. 9(4)); `refusal` says how, the notice is in the inbox. */
  'refused',
  /** A request this authority sent was referred to the competent authority (Art. 9(2)); the notice is in the inbox. */
  'referred',
  /** A request this authority sent is held for a person's decision at the peer (Art. 9(4)). */
  'in-review',
  /** A request this authority sent was accepted on conditions that bind it (Art. 9(4)); the notice is in the inbox. */
  'accepted-with-conditions',
  /** Accepted and sent, with something the authority should look at (`code`, `path`). */
  'warning',
  /** A correction or erasure this authority sent arrived before its original and waits for it (Art. 10(4)). */
  'held',
  /** The recipient confirmed it corrected or destroyed data this authority provided (Art. 10(4), 10(5)). */
  'confirmed',
] as const;

/**
 * The event types an authority may choose not to receive (`eventSubscriptions` in the config): what
 * follows a message that was sent. The others answer a submission (`accepted`, `sent`, `rejected`,
 * `duplicate`), report a failure or a warning, and always go.
 */
export const OPTIONAL_EVENT_TYPES = [
  'delivered',
  'refused',
  'referred',
  'in-review',
  'accepted-with-conditions',
  'held',
  'confirmed',
] as const satisfies readonly (typeof EVENT_TYPES)[number][];

export const StatusEvent = z.strictObject({
  type: z.enum(EVENT_TYPES),
  at: Timestamp,
  messageId: z.uuid().optional(),
  idempotencyKey: IdempotencyKey.optional(),
  kind: z.string().max(64).optional(),
  to: Address.optional(),
  /** For `rejected` and `failed`: the stable error code and, where it applies, the field path. */
  code: z.string().max(64).optional(),
  path: z.string().max(512).optional(),
  message: z.string().max(500).optional(),
  /** Art. 10(5): the destruction deadline the message carries (`sent`), and whether it is the default. */
  destroyBy: Timestamp.optional(),
  destroyByDefault: z.boolean().optional(),
  refusal: z
    .strictObject({
      noticeId: z.uuid(),
      scope: z.enum(['full', 'partial']),
      grounds: z.array(z.string().max(64)).max(5),
      /** Who refused (Art. 9(4)): a rule of the peer's config, a hook, a person in review, or the authority. */
      decidedBy: z
        .strictObject({
          kind: z.enum(['rule', 'hook', 'person', 'authority']),
          ref: z.string().max(200).optional(),
        })
        .optional(),
    })
    .optional(),
});
export type StatusEvent = z.infer<typeof StatusEvent>;
