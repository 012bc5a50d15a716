/**
 * The start checks that read the config and the environment only (src/start-checks.ts): references to
 * the directory (Art. 13) and the variables an `…Env` field names, each problem with its code and the
 * exact config path; and startProblems, which runs a list of checks and turns a check that throws
 * into its problem. Pure; no broker, no Redis.
 */
import { expect } from 'chai';
import { AccordError } from '../../src/errors.js';
import { directoryReferences, startProblems, variablesSet, webhookSecret } from '../../src/start-checks.js';
import { configOf } from '../helpers/facts.js';

const described = (problems: AccordError[]) => problems.map((p) => `${p.code} at ${p.path}: ${p.message}`);

describe('start checks on the config alone', () => {
  it('the shipped configs refer to listed authorities only', () => {
    expect(directoryReferences(configOf('cz'), {})).to.deep.equal([]);
    expect(directoryReferences(configOf('kz'), {})).to.deep.equal([]);
  });

  it('names each reference to an authority this party does not list, with its index', () => {
    const config = configOf('kz', (raw) => {
      raw.treaty = { notifyingAuthorities: ['kz-mia', 'cz-pp-ipc'] };
      raw.policy = {
        ...raw.policy,
        competence: [{ authority: 'kz-nobody' }],
        refusalRules: [
          {
            id: 'r',
            when: { toAuthorities: ['kz-ncb', 'kz-elsewhere'], fromAuthorities: ['cz-pp-ipc'] },
            decision: 'review',
            explanation: 'held for a person',
          },
        ],
      };
    });
    expect(described(directoryReferences(config, {}))).to.deep.equal([
      "config.invalid at treaty.notifyingAuthorities.1: cz-pp-ipc is not one of this party's listed authorities",
      "config.invalid at policy.competence.0.authority: kz-nobody is not one of this party's listed authorities",
      "config.invalid at policy.refusalRules.0.when.toAuthorities.1: kz-elsewhere is not one of this party's listed authorities",
    ]);
  });

  it('names each …Env field whose variable is not set, never a value', () => {
    const config = configOf('cz', (raw) => {
      raw.keys.passphraseEnv = 'ACCORD_TEST_KEY_PASSPHRASE';
      raw.admin = { port: 0, tokenEnv: 'ACCORD_TEST_ADMIN_TOKEN' };
    });
    expect(described(variablesSet(config, {}))).to.deep.equal([
      'config.invalid at keys.passphraseEnv: environment variable ACCORD_TEST_KEY_PASSPHRASE is not set',
      'config.invalid at admin.tokenEnv: environment variable ACCORD_TEST_ADMIN_TOKEN is not set',
    ]);
    const set = { ACCORD_TEST_KEY_PASSPHRASE: 'x'.repeat(20), ACCORD_TEST_ADMIN_TOKEN: 'y'.repeat(40) };
    expect(variablesSet(config, set)).to.deep.equal([]);
  });

  it('refuses an alert webhook without a signing secret, and a secret shorter than 32 characters', () => {
    // The schema: a webhook URL without a secret's source.
    expect(() =>
      configOf('cz', (r) => {
        r.alerts = { webhookUrl: 'https://pager.example/hook' };
      }),
    ).to.throw('alerts.webhookSecretEnv');
    const config = configOf('cz', (r) => {
      r.alerts = { webhookUrl: 'https://pager.example/hook', webhookSecretEnv: 'ACCORD_TEST_WEBHOOK_SECRET' };
    });
    expect(described(variablesSet(config, {}))).to.deep.equal([
      'config.invalid at alerts.webhookSecretEnv: environment variable ACCORD_TEST_WEBHOOK_SECRET is not set',
    ]);
    expect(() => webhookSecret(config, { ACCORD_TEST_WEBHOOK_SECRET: 'short' })).to.throw(
      'the alert webhook secret is missing or shorter than 32 characters',
    );
    expect(webhookSecret(config, { ACCORD_TEST_WEBHOOK_SECRET: 's'.repeat(32) })).to.deep.equal([]);
  });

  it('lists the problems of every check in order, a check that throws as its error', async () => {
    const config = configOf('cz');
    const problems = await startProblems(config, {}, [
      () => [new AccordError('config.invalid', 'first', { path: 'a' })],
      () => {
        throw new AccordError('keys.invalid', 'thrown', { path: 'b' });
      },
      () => Promise.resolve([]),
    ]);
    expect(described(problems)).to.deep.equal(['config.invalid at a: first', 'keys.invalid at b: thrown']);
  });
});
