import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkConfigData, loadConfig, names } from '../src/config.js';
import { TEST_ONLY_IDENTIFIER_KEY } from '../src/demo/config-pair.js';
import { AccordError } from '../src/errors.js';
import { ROOT } from './helpers/harness.js';

/** The shipped configs read the identifier key from the environment, with no default. */
const ENV = { ACCORD_IDENTIFIER_KEY: TEST_ONLY_IDENTIFIER_KEY };

const raw = (party: 'cz' | 'kz') =>
  JSON.parse(readFileSync(join(ROOT, 'config', `${party}.json`), 'utf8')) as Record<string, any>;
const issuesOf = (data: unknown, env: Record<string, string> = ENV) => {
  const check = checkConfigData(data, join(ROOT, 'config'), env);
  return check.ok ? [] : check.issues;
};

describe('config', () => {
  it('accepts both shipped configs and fills the defaults', () => {
    for (const party of ['cz', 'kz'] as const) {
      const c = loadConfig(join(ROOT, 'config', `${party}.json`), ENV);
      expect(c.crypto.signatureAlgs).to.deep.equal(['ES256']);
      expect(c.amqp.prefetch).to.equal(64);
      expect(c.keys.privateJwks).to.equal(join(ROOT, 'certs-example', party, 'private.jwks.json'));
    }
  });

  it('is frozen once loaded', () => {
    const c = loadConfig(join(ROOT, 'config', 'cz.json'), ENV);
    expect(Object.isFrozen(c.authorities[0])).to.equal(true);
  });

  it('lists every problem as path: message, without the values', () => {
    const bad = raw('cz');
    bad.party = 'XX';
    bad.amqp.url = 'http://secret-host';
    bad.authorities[1].id = 'Bad Id!';
    bad.surprise = true;
    delete bad.peer.publicJwks;
    const issues = issuesOf(bad);
    expect(issues.some((i) => i.startsWith('party: '))).to.equal(true);
    expect(issues.some((i) => i.startsWith('amqp.url: '))).to.equal(true);
    expect(issues.some((i) => i.startsWith('authorities.1.id: '))).to.equal(true);
    expect(issues.some((i) => i.startsWith('(root): ') && i.includes('surprise'))).to.equal(true);
    expect(issues.some((i) => i.startsWith('peer.publicJwks: '))).to.equal(true);
    expect(issues.join('\n')).not.to.include('secret-host');
  });

  it('takes URLs and secrets from the environment, and names a missing variable', () => {
    const c = raw('cz');
    c.amqp.url = '${MY_AMQP}';
    const check = checkConfigData(c, join(ROOT, 'config'), { ...ENV, MY_AMQP: 'amqp://u:p@broker:5672' });
    expect(check.ok && check.config.amqp.url).to.equal('amqp://u:p@broker:5672');
    expect(issuesOf(c)).to.deep.equal(['amqp.url: environment variable MY_AMQP is not set']);
  });

  it('refuses duplicate authority ids and a peer that is this party', () => {
    const c = raw('cz');
    c.authorities.push({ ...c.authorities[0] });
    c.peer.party = 'CZ';
    const issues = issuesOf(c);
    expect(issues).to.include('authorities.2.id: duplicate id');
    expect(issues).to.include('peer.party: the peer must be the other party');
  });

  it('refuses a peer on the same broker and namespace (its ingress would be our own)', () => {
    const c = raw('cz');
    c.peer.namespace = c.namespace;
    expect(issuesOf(c)).to.have.length(1);
  });

  it('throws config.invalid from loadConfig for a missing file', () => {
    expect(() => loadConfig('/nonexistent/accord.json'))
      .to.throw(AccordError)
      .with.property('code', 'config.invalid');
  });

  it('prefixes every queue and Redis key with the namespace', () => {
    const n = names('cz');
    expect([n.outbox, n.ingress, n.dlq, n.inbox('a-b'), n.events('a-b')]).to.deep.equal([
      'cz.accord.outbox',
      'cz.accord.ingress',
      'cz.accord.dlq',
      'cz.accord.inbox.a-b',
      'cz.accord.events.a-b',
    ]);
    expect(names(undefined).outbox).to.equal('accord.outbox');
  });
});
