/**
 * An unknown key is input too: a case system (or a peer) that uses a person's name and date of birth
 * as a key must not get them into the gateway's log, its dead letters or the events. The rejection
 * names the object that holds the key, and says "unknown key".
 */
import { expect } from 'chai';
import { names } from '../src/config.js';
import {
  example,
  publishRaw,
  sealAsCz,
  startPair,
  testEnvelope,
  waitForDeadLetter,
  type Pair,
  type TestAuthority,
} from './helpers/harness.js';

/** A person's name and date of birth, used as a key. */
const NAME_KEY = 'Jan Novák 1980-02-03';
const TRACES = ['Novák', 'Nov\\u00e1k', '1980-02-03'];

describe('an unknown key that carries personal data stays out of log, dead letters and events', function () {
  this.timeout(30_000);
  let pair: Pair;
  let czIpc: TestAuthority;

  before(async () => {
    pair = await startPair();
    czIpc = await pair.authority(pair.czConfig, 'cz-pp-ipc');
  });
  after(async () => {
    await pair.close();
  });

  const expectNoTrace = (what: string, text: string) => {
    for (const t of TRACES) expect(text.includes(t), `${what} holds ${t}`).to.equal(false);
  };

  it('rejects a submission at the object holding the key, saying "unknown key" (event and log)', async () => {
    const key = 'unknown-key-1';
    const sub = example('request', key);
    sub.body.persons = [{ familyName: 'Example', [NAME_KEY]: true }];
    await czIpc.client.submitRaw(Buffer.from(JSON.stringify(sub)));
    const ev = await czIpc.events.waitFor((e) => e.idempotencyKey === key, 10_000, 'the rejection');
    expect(ev).to.include({ type: 'rejected', code: 'schema.invalid', path: 'body.persons.0' });
    expect(ev.message).to.include('unknown key');
    expectNoTrace('the event', JSON.stringify(ev));
    expectNoTrace('the log', pair.lines.join('\n'));
  });

  it('parks an envelope from the peer with such a key without it (dead letter and log)', async () => {
    const env = testEnvelope();
    env.body = { ...env.body, [NAME_KEY]: 'x' };
    await publishRaw(names(pair.kzConfig.namespace).ingress, await sealAsCz(pair.czConfig, env));
    const letter = await waitForDeadLetter(
      names(pair.kzConfig.namespace).dlq,
      (l) => l.code === 'schema.invalid' && l.messageId === env.id,
    );
    expect(letter).to.include({ source: 'ingress', path: 'body' });
    expect(String(letter.message)).to.include('unknown key');
    // The sealed message is kept for an admin (ciphertext); nothing else of it.
    expectNoTrace('the dead letter', JSON.stringify({ ...letter, jwe: undefined }));
    expectNoTrace('the log', pair.lines.join('\n'));
  });
});
