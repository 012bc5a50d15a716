/**
 * Signed-envelope values for unit tests of pure decisions: valid against the Envelope schema, built
 * in memory, no keys, no broker, no Redis. `over` replaces whole fields; `body` merges into the body.
 */
import { randomUUID } from 'node:crypto';
import { ENVELOPE_VERSION, Envelope, type EnvelopeOf } from '../../src/domain/envelope.js';
import { validate } from '../../src/domain/parse.js';

/** The fixed clock of unit tests. */
export const T0 = new Date('2026-11-20T10:00:00Z');

/** An envelope of `kind` from CZ's cz-pp-ipc to KZ's kz-mia, created at {@link T0}, valid for a day. */
export function envelopeOf<K extends Envelope['kind']>(
  kind: K,
  body: Record<string, unknown>,
  over: Record<string, unknown> = {},
): EnvelopeOf<K> {
  return validate(
    Envelope,
    {
      v: ENVELOPE_VERSION,
      id: randomUUID(),
      kind,
      from: { party: 'CZ', authority: 'cz-pp-ipc' },
      to: { party: 'KZ', authority: 'kz-mia' },
      createdAt: T0.toISOString(),
      expiresAt: new Date(T0.getTime() + 86_400_000).toISOString(),
      priority: 'normal',
      language: 'en',
      handling: { purposes: ['combating-crime'], conditions: [], sensitive: [] },
      body,
      ...over,
    },
    'test envelope',
  ) as EnvelopeOf<K>;
}

/** An Art. 9(1) request (forgery, travel documents), with `body` merged in. */
export function requestEnvelope(
  body: Record<string, unknown> = {},
  over: Record<string, unknown> = {},
): EnvelopeOf<'request'> {
  return envelopeOf(
    'request',
    {
      crimeCategories: ['forgery'],
      informationTypes: ['travel-documents'],
      assistanceTypes: [],
      summary: 'Status of a passport',
      ...body,
    },
    over,
  );
}
