/**
 * The rows of docs/treaty.md that are about what a message must carry (Art. 2, 3, 4, 6, 7, 9(3)) and what
 * its record must say (Art. 10(6)), checked on the pure validation and record builder. No broker.
 */
import { expect } from 'chai';
import { messageRecord } from '../../src/audit/records.js';
import { readHead, validateSubmission } from '../../src/pipeline/decide-outbound.js';
import { envelopeOf } from '../helpers/envelopes.js';
import { expectCode } from '../helpers/expect-code.js';
import { example, factsOf } from '../helpers/facts.js';

/** A shipped example submission, edited, checked as the outbound pipeline checks it before sealing. */
function check(kind: string, edit: (s: Record<string, any>) => void = () => undefined) {
  const { raw, config } = example(kind, edit);
  const facts = factsOf(config);
  return () => validateSubmission(raw, readHead(raw, undefined, facts), facts);
}

describe('the agreement: what a message must carry', () => {
  it('accepts each shipped example of Art. 6, 7 and 9(3)', () => {
    for (const kind of ['travel-document', 'person-search', 'spontaneous', 'request']) {
      expect(check(kind)().sub.kind, kind).to.equal(kind);
    }
  });

  const rows: [string, string, (s: Record<string, any>) => void, string][] = [
    [
      'a crime category outside Art. 2',
      'request',
      (s) => (s.body.crimeCategories = ['piracy']),
      'body.crimeCategories.0',
    ],
    [
      'a request naming no crime category (Art. 2)',
      'request',
      (s) => (s.body.crimeCategories = []),
      'body.crimeCategories',
    ],
    [
      'an information type outside Art. 3',
      'request',
      (s) => (s.body.informationTypes = ['gossip']),
      'body.informationTypes.0',
    ],
    [
      'an assistance type outside Art. 4',
      'request',
      (s) => (s.body.assistanceTypes = ['arrest']),
      'body.assistanceTypes.0',
    ],
    [
      'a travel document without its number (Art. 6)',
      'travel-document',
      (s) => delete s.body.documents[0].number,
      'body.documents.0.number',
    ],
    [
      'a travel document without its type (Art. 6)',
      'travel-document',
      (s) => delete s.body.documents[0].type,
      'body.documents.0.type',
    ],
    [
      'a travel document without its status (Art. 6)',
      'travel-document',
      (s) => delete s.body.documents[0].status,
      'body.documents.0.status',
    ],
    [
      'a travel document with a status Art. 6 does not name',
      'travel-document',
      (s) => (s.body.documents[0].status = 'found'),
      'body.documents.0.status',
    ],
    [
      'a person search that says neither missing nor searched (Art. 7)',
      'person-search',
      (s) => (s.body.reason = 'curious'),
      'body.reason',
    ],
    [
      'a person search without the person (Art. 7)',
      'person-search',
      (s) => delete s.body.person,
      'body.person',
    ],
    [
      'spontaneous information without its crime categories (Art. 9(3))',
      'spontaneous',
      (s) => delete s.body.crimeCategories,
      'body.crimeCategories',
    ],
  ];
  for (const [what, kind, edit, path] of rows) {
    it(`rejects ${what}: schema.invalid at ${path}`, async () => {
      await expectCode(check(kind, edit), 'schema.invalid', path);
    });
  }
});

describe('the agreement: the record of a message (Art. 10(6))', () => {
  it('names the purpose, the scope, the authorities on both sides and the direction, and no content', () => {
    const env = envelopeOf('travel-document', {
      documents: [{ number: 'X1', type: 'passport', status: 'lost' }],
    });
    const out = messageRecord(env, 'out');
    expect(out).to.deep.include({
      type: 'provision',
      messageId: env.id,
      kind: 'travel-document',
      fromAuthority: 'CZ/cz-pp-ipc',
      toAuthority: 'KZ/kz-mia',
      purposes: ['combating-crime'],
    });
    expect(messageRecord(env, 'in').type).to.equal('receipt');
    // The document number is personal data: the record counts subjects, it never copies them.
    expect(JSON.stringify(out)).not.to.include('X1');
  });
});
