/**
 * What a config must hold beyond its schema (src/config-production.ts): the identifier key has no
 * default and is never test-only material in production; TLS options are never silently unused, and the
 * peer link is TLS in production. Checked the way `accord start` and `accord config check` check.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkConfigData, loadConfig } from '../src/config.js';
import { identifierKeyProblem, productionIssues, transportIssues } from '../src/config-production.js';
import { TEST_ONLY_IDENTIFIER_KEY } from '../src/demo/config-pair.js';
import { ROOT, runCli } from './helpers/harness.js';
import { expectCode } from './helpers/expect-code.js';

const raw = (party: 'cz' | 'kz') =>
  JSON.parse(readFileSync(join(ROOT, 'config', `${party}.json`), 'utf8')) as Record<string, any>;
const issuesOf = (data: unknown, env: Record<string, string>) => {
  const check = checkConfigData(data, join(ROOT, 'config'), env);
  return check.ok ? [] : check.issues;
};

/** A key as docs/security.md says to make one (openssl rand -base64 32). */
const realKey = () => randomBytes(32).toString('base64');
const TLS_PEER = 'amqps://accord-peer:secret@broker.peer.example:5671/';
const PLAIN_PEER = 'amqp://accord-peer:secret@broker.peer.example:5672/';

/** The production environment of a gateway with a real key and a TLS peer link. */
const production = (over: Record<string, string> = {}) => ({
  NODE_ENV: 'production',
  ACCORD_IDENTIFIER_KEY: realKey(),
  ACCORD_PEER_AMQP_URL: TLS_PEER,
  ...over,
});

describe('config: the identifier key', () => {
  it('has no default in the shipped configs: without ACCORD_IDENTIFIER_KEY they are refused', () => {
    for (const party of ['cz', 'kz'] as const) {
      expect(issuesOf(raw(party), {})).to.deep.equal([
        'policy.identifierKey: environment variable ACCORD_IDENTIFIER_KEY is not set',
      ]);
    }
  });

  it('refuses the test-only key with NODE_ENV=production, and says how to make one', () => {
    const issues = issuesOf(raw('cz'), production({ ACCORD_IDENTIFIER_KEY: TEST_ONLY_IDENTIFIER_KEY }));
    expect(issues).to.have.length(1);
    expect(issues[0]).to.match(
      /^policy\.identifierKey: the key is test-only material; refused with NODE_ENV=production/,
    );
    expect(issues[0]).to.include('openssl rand -base64 32');
    expect(issues[0]).not.to.include(TEST_ONLY_IDENTIFIER_KEY);
  });

  it('refuses a key that is plainly not random with NODE_ENV=production, never repeating it', () => {
    for (const key of [
      'a'.repeat(40),
      'abcabcabcabcabcabcabcabcabcabcabcabc',
      'my-example-key-my-example-key-12345',
    ]) {
      const issues = issuesOf(raw('kz'), production({ ACCORD_IDENTIFIER_KEY: key }));
      expect(issues, key).to.have.length(1);
      expect(issues[0]).to.match(/^policy\.identifierKey: /);
      expect(issues[0]).not.to.include(key);
    }
  });

  it('refuses a short key in every mode (the schema: at least 32 characters)', () => {
    const short = realKey().slice(0, 31);
    expect(issuesOf(raw('cz'), { ACCORD_IDENTIFIER_KEY: short })[0]).to.match(/^policy\.identifierKey: /);
    expect(issuesOf(raw('cz'), production({ ACCORD_IDENTIFIER_KEY: short }))[0]).to.match(
      /^policy\.identifierKey: /,
    );
    expect(identifierKeyProblem(short)).to.include('shorter than 32');
  });

  it('accepts a generated key in production, and the test-only key outside it (demo and tests)', () => {
    expect(issuesOf(raw('cz'), production())).to.deep.equal([]);
    expect(issuesOf(raw('kz'), production())).to.deep.equal([]);
    expect(issuesOf(raw('cz'), { ACCORD_IDENTIFIER_KEY: TEST_ONLY_IDENTIFIER_KEY })).to.deep.equal([]);
  });

  it('makes loadConfig (accord start) refuse the test-only key in production with config.invalid', async () => {
    const err = await expectCode(
      () =>
        loadConfig(
          join(ROOT, 'config', 'cz.json'),
          production({ ACCORD_IDENTIFIER_KEY: TEST_ONLY_IDENTIFIER_KEY }),
        ),
      'config.invalid',
    );
    expect(err.message).to.include('policy.identifierKey: the key is test-only material');
  });
});

describe('config: TLS for the broker links', () => {
  it('refuses tls options with an amqp:// URL in every mode: amqplib picks TLS by the scheme', () => {
    const c = raw('cz');
    c.peer.amqpUrl = PLAIN_PEER;
    c.peer.tls = { ca: 'ca.crt' };
    expect(issuesOf(c, { ACCORD_IDENTIFIER_KEY: TEST_ONLY_IDENTIFIER_KEY })).to.deep.equal([
      'peer.amqpUrl: peer.tls is set, so the URL must be amqps:// (with amqp:// the TLS options are unused)',
    ]);
    const local = raw('cz');
    local.amqp.tls = { ca: 'ca.crt' };
    expect(issuesOf(local, { ACCORD_IDENTIFIER_KEY: TEST_ONLY_IDENTIFIER_KEY })).to.deep.equal([
      'amqp.url: amqp.tls is set, so the URL must be amqps:// (with amqp:// the TLS options are unused)',
    ]);
  });

  it('requires an amqps:// peer with NODE_ENV=production, with or without peer.tls', () => {
    expect(issuesOf(raw('cz'), production({ ACCORD_PEER_AMQP_URL: PLAIN_PEER }))).to.deep.equal([
      'peer.amqpUrl: with NODE_ENV=production the link to the peer gateway must be amqps:// (TLS, docs/security.md)',
    ]);
    const withTls = raw('kz');
    withTls.peer.tls = { ca: 'ca.crt' };
    const issues = issuesOf(withTls, production({ ACCORD_PEER_AMQP_URL: PLAIN_PEER }));
    expect(issues).to.include(
      'peer.amqpUrl: peer.tls is set, so the URL must be amqps:// (with amqp:// the TLS options are unused)',
    );
    expect(issues.join('\n')).not.to.include('secret');
  });

  it('lets the local broker stay amqp:// in production, and a dev peer stay amqp:// without tls', () => {
    expect(issuesOf(raw('cz'), production())).to.deep.equal([]);
    expect(issuesOf(raw('cz'), { ACCORD_IDENTIFIER_KEY: TEST_ONLY_IDENTIFIER_KEY })).to.deep.equal([]);
  });

  it('are pure functions of (config, environment) that the other commands can call', () => {
    const c = {
      amqp: { url: 'amqp://x' },
      peer: { amqpUrl: 'amqp://y', tls: { ca: 'x' } },
      policy: { identifierKey: TEST_ONLY_IDENTIFIER_KEY },
    };
    expect(transportIssues(c)).to.have.length(1);
    expect(productionIssues(c, {})).to.deep.equal([]);
    expect(productionIssues(c, { NODE_ENV: 'production' })).to.have.length(2);
  });
});

describe('accord config check in production', function () {
  this.timeout(20_000);

  it('says what the image’s default command would run with: no identifier key, a plaintext peer', async () => {
    // The Dockerfile's CMD: NODE_ENV=production, config/cz.json, nothing else set.
    const r = await runCli(['config', 'check', 'config/cz.json'], {
      NODE_ENV: 'production',
      ACCORD_IDENTIFIER_KEY: undefined,
      ACCORD_PEER_AMQP_URL: undefined,
    });
    expect(r.code).to.equal(2);
    expect(r.stderr).to.include(
      'policy.identifierKey: environment variable ACCORD_IDENTIFIER_KEY is not set',
    );
  });

  it('refuses the test-only key and a plaintext peer in production, each with its path', async () => {
    const r = await runCli(['config', 'check', 'config/cz.json'], {
      NODE_ENV: 'production',
      ACCORD_IDENTIFIER_KEY: TEST_ONLY_IDENTIFIER_KEY,
      ACCORD_PEER_AMQP_URL: PLAIN_PEER,
    });
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/^peer\.amqpUrl: with NODE_ENV=production .*amqps:\/\//m);
    expect(r.stderr).to.match(/^policy\.identifierKey: the key is test-only material/m);
    // With a real key and an amqps:// peer these two pass; what remains in production is the shipped
    // test key file, which is unencrypted (config check now runs the start checks too).
    const ok = await runCli(['config', 'check', 'config/cz.json'], production());
    const problems = `${ok.stdout}${ok.stderr}`;
    expect(problems).not.to.match(/^(peer\.amqpUrl|policy\.identifierKey):/m);
    expect(problems).to.contain('an unencrypted private key is refused with NODE_ENV=production');
  });
});
