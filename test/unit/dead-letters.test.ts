/**
 * Dead letters, as tables: where a replay goes by origin and code, or why there is none; the
 * references that tell identical letters apart; the filters of `list`; and the outbox's decision on a
 * resend request. Pure functions; no broker, no Redis.
 */
import { expect } from 'chai';
import { ERROR_CODES } from '../../src/errors.js';
import { matches, referencesOf, type LetterView } from '../../src/dlq/dead-letters.js';
import { replayVerdict, type ReplayFacts } from '../../src/dlq/replay-rules.js';
import { decideResend } from '../../src/pipeline/decide-outbound.js';
import type { SentRecord } from '../../src/pipeline/ports.js';

const ID = '2b1f7a3e-5c4d-4e6f-9a0b-1c2d3e4f5a6b';
const ingress = (code: string, hasJwe = true): ReplayFacts => ({ source: 'ingress', code, hasJwe });

describe('dlq/replay-rules', () => {
  it('sends a no_receipt letter back to the outbox, and refuses it once a late receipt resolved it', () => {
    const letter: ReplayFacts = {
      source: 'outbox',
      code: 'delivery.no_receipt',
      messageId: ID,
      hasJwe: true,
    };
    expect(replayVerdict(letter)).to.deep.equal({ to: 'outbox' });
    const resolved = replayVerdict({ ...letter, resolvedAt: '2026-01-01T00:00:00.000Z' });
    expect(resolved).to.have.property('refused').that.contains('resolved');
  });

  it('refuses every other outbox letter: it keeps only the submission’s hash', () => {
    for (const code of ['auth.unknown_authority', 'input.not_json', 'schema.invalid', 'delivery.poison']) {
      expect(replayVerdict({ source: 'outbox', code, hasJwe: false }), code)
        .to.have.property('refused')
        .that.contains('submits it again');
    }
  });

  it('replays an ingress letter whose cause can pass, and refuses one a replay cannot mend', () => {
    for (const code of [
      'auth.unknown_authority',
      'crypto.unknown_kid',
      'envelope.not_yet_valid',
      'policy.original_missing',
      'delivery.poison',
    ]) {
      expect(replayVerdict(ingress(code)), code).to.deep.equal({ to: 'ingress' });
    }
    for (const code of [
      'input.too_large',
      'schema.invalid',
      'crypto.malformed',
      'crypto.bad_signature',
      'envelope.expired',
      'envelope.replayed',
      'receipt.digest_mismatch',
      'policy.destruction_deadline_missing',
      'keys.kid_collision',
    ]) {
      expect(replayVerdict(ingress(code)), code).to.have.property('refused');
    }
    expect(replayVerdict(ingress('auth.unknown_authority', false))).to.deep.equal({
      refused: 'the letter carries no sealed message to replay',
    });
  });

  it('has a verdict with a reason for every code an ingress letter can carry', () => {
    for (const code of Object.keys(ERROR_CODES)) {
      const v = replayVerdict(ingress(code));
      if ('refused' in v) expect(v.refused, code).to.have.length.greaterThan(10);
    }
  });
});

describe('dlq/dead-letters: references and filters', () => {
  it('names a letter by its letterId, an old one by its bytes’ hash, identical copies with .2, .3', () => {
    const a = Buffer.from('{"old":1}');
    const refs = referencesOf([
      { content: a, letterId: undefined },
      { content: Buffer.from('{"x":1}'), letterId: ID },
      { content: a, letterId: undefined },
      { content: a, letterId: undefined },
    ]);
    expect(refs[1]).to.equal(ID);
    expect(refs[0]).to.match(/^[0-9a-f]{16}$/);
    expect(refs.slice(2)).to.deep.equal([`${refs[0]}.2`, `${refs[0]}.3`]);
  });

  it('filters by code or family, origin, time and state', () => {
    const v = {
      ref: ID,
      valid: true,
      bytes: 1,
      at: '2026-06-01T00:00:00.000Z',
      origin: 'ingress',
      code: 'crypto.unknown_kid',
      state: 'open',
      replay: { to: 'ingress' },
    } as LetterView;
    expect(matches(v, {})).to.equal(true);
    expect(matches(v, { code: 'crypto.unknown_kid' })).to.equal(true);
    expect(matches(v, { code: 'crypto.*' })).to.equal(true);
    expect(matches(v, { code: 'crypto.' })).to.equal(true);
    expect(matches(v, { code: 'crypto' })).to.equal(false);
    expect(matches(v, { origin: 'outbox' })).to.equal(false);
    expect(matches(v, { since: new Date('2026-06-02') })).to.equal(false);
    expect(matches(v, { until: new Date('2026-05-31') })).to.equal(false);
    expect(matches(v, { since: new Date('2026-05-31'), until: new Date('2026-06-02') })).to.equal(true);
    expect(matches(v, { state: 'resolved' })).to.equal(false);
  });
});

describe('pipeline/decide-outbound: decideResend', () => {
  const sent = { jwe: 'a.b.c.d.e', from: 'cz-pp-ipc' } as SentRecord;
  const open = { access: { submitters: [], gatewayUser: 'accord-gateway' } } as never;
  const checked = {
    access: { submitters: [{ authority: 'cz-pp-ipc', brokerUser: 'cz-ipc' }], gatewayUser: 'accord-gateway' },
  } as never;

  it('resends an undelivered message; nothing for one delivered meanwhile or unknown', () => {
    expect(decideResend(ID, undefined, sent, open)).to.deep.equal({ action: 'resend', id: ID, sent });
    expect(decideResend(ID, undefined, { ...sent, deliveredAt: 'x' }, open)).to.deep.equal({
      action: 'delivered',
    });
    expect(decideResend(ID, undefined, null, open)).to.deep.equal({ action: 'unknown' });
  });

  it('takes a resend only from the gateway’s broker user when broker users are checked', () => {
    const d = decideResend(ID, 'cz-ipc', sent, checked);
    expect(d.action).to.equal('reject');
    expect(d).to.have.nested.property('error.code', 'auth.sender_mismatch');
    expect(decideResend(ID, 'accord-gateway', sent, checked).action).to.equal('resend');
    expect(decideResend(undefined, undefined, null, open)).to.have.nested.property(
      'error.code',
      'schema.invalid',
    );
  });
});
