/**
 * docs/protocol.md, section 8: version 1 negotiates nothing. What a receiver does with an envelope of
 * another version or of a kind it does not implement: refused whole by the envelope schema, with a
 * code whose disposition parks a message from the peer (inbound.ts parks `reject` and `park` alike,
 * with no receipt). Pure: the schema the ingress validates with, and the disposition table.
 */
import { expect } from 'chai';
import { ENVELOPE_VERSION, Envelope } from '../../src/domain/envelope.js';
import { validate } from '../../src/domain/parse.js';
import { dispositionOf } from '../../src/errors.js';
import { T0, envelopeOf } from '../helpers/envelopes.js';
import { expectCode } from '../helpers/expect-code.js';

/** A valid key revocation as a plain object, to change one member of. */
function raw(over: Record<string, unknown>): Record<string, unknown> {
  const env = envelopeOf('key-revocation', {
    kid: 'cz-sig-1',
    use: 'sig',
    reason: 'rotated',
    revokedAt: T0.toISOString(),
  });
  return { ...JSON.parse(JSON.stringify(env)), ...over } as Record<string, unknown>;
}

describe('protocol version 1: what the receiver does with what it does not know', () => {
  it('knows version 1 only', () => {
    expect(ENVELOPE_VERSION).to.equal(1);
    expect(() => validate(Envelope, raw({}), 'envelope')).not.to.throw();
  });

  it('[P-VER-1] refuses an envelope whose v is not 1 as schema.invalid at v, which parks it', async () => {
    for (const v of [2, 0, '1']) {
      const e = await expectCode(() => validate(Envelope, raw({ v }), 'envelope'), 'schema.invalid', 'v');
      expect(['reject', 'park']).to.include(dispositionOf(e.code));
    }
  });

  it('[P-VER-2] refuses an envelope of a kind it does not implement as schema.invalid at kind, which parks it', async () => {
    const e = await expectCode(
      () => validate(Envelope, raw({ kind: 'heartbeat-from-the-future' }), 'envelope'),
      'schema.invalid',
      'kind',
    );
    expect(['reject', 'park']).to.include(dispositionOf(e.code));
  });
});
