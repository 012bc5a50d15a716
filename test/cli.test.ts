import { expect } from 'chai';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readPrivateJwks, readPublicJwks } from '../src/crypto/jwk.js';
import { names } from '../src/config.js';
import {
  ROOT,
  authority,
  configFileFor,
  drainQueue,
  ingressWithoutGateway,
  pairConfigs,
  removeNamespace,
  runCli,
  startGatewayCli,
  uniqueStem,
} from './helpers/harness.js';
import { tempDir } from './helpers/temp.js';

const run = runCli;

describe('cli', () => {
  it('config check: ok exits 0; problems print path: message and exit 2', async () => {
    const ok = await run(['config', 'check', 'config/cz.json']);
    expect(ok.code).to.equal(0);
    expect(ok.stdout).to.include('ok (party CZ');
    const dir = tempDir('config');
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ party: 'CZ', amqp: { url: 'amqp://x' } }));
    const bad = await run(['config', 'check', join(dir, 'bad.json')]);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.match(/^redis: /m);
    expect(bad.stderr).to.match(/^peer: /m);
    const notJson = join(dir, 'x.json');
    writeFileSync(notJson, '{');
    expect((await run(['config', 'check', notJson])).code).to.equal(2);
  });

  it('keys generate: a private set (mode 600) and a public set without private members', async () => {
    const dir = tempDir('keys');
    const r = await run(['keys', 'generate', '--party', 'KZ', '--out', dir]);
    expect(r.code).to.equal(0);
    const priv = readPrivateJwks(join(dir, 'private.jwks.json'));
    const pub = readPublicJwks(join(dir, 'public.jwks.json'));
    expect(priv.keys.map((k) => [k.use, k.alg, k.kty === 'EC' ? k.crv : k.kty])).to.deep.equal([
      ['sig', 'ES256', 'P-256'],
      ['enc', 'ECDH-ES+A256KW', 'P-256'],
    ]);
    expect(pub.keys.map((k) => k.kid)).to.deep.equal(priv.keys.map((k) => k.kid));
    expect(readFileSync(join(dir, 'public.jwks.json'), 'utf8')).not.to.include('"d"');
    expect(statSync(join(dir, 'private.jwks.json')).mode & 0o777).to.equal(0o600);
    // It never overwrites keys unless told to.
    const again = await run(['keys', 'generate', '--party', 'KZ', '--out', dir]);
    expect(again.code).to.equal(2);
    expect(again.stderr).to.include('already exist');
  });

  it('bad usage exits 2', async () => {
    expect((await run(['keys', 'generate', '--party', 'XX', '--out', '/tmp/x'])).code).to.equal(2);
    expect((await run(['no-such-command'])).code).to.equal(2);
  });

  it('start runs a gateway that send can reach, and stops cleanly on SIGTERM', async function () {
    this.timeout(30_000);
    const { cz, kz } = pairConfigs(uniqueStem());
    const file = configFileFor(cz);
    // The peer's ingress and peer exchange must exist for the send to be confirmed; KZ's gateway is not needed.
    await ingressWithoutGateway(kz);
    const gw = await startGatewayCli(['--config', file]);
    try {
      const ipc = await authority(cz, 'cz-pp-ipc');
      const sent = await run(['send', '--config', file, '--file', 'examples/messages/request.json']);
      expect(sent.code).to.equal(0);
      const id = /message id (\S+)/.exec(sent.stdout)?.[1];
      await ipc.events.waitFor((e) => e.type === 'sent' && e.messageId === id, 10_000, 'sent');
      await ipc.client.close();
      expect(await drainQueue(names(kz.namespace).ingress)).to.have.length(1);

      expect(await gw.stop()).to.equal(0);
      expect(gw.output()).to.include('gateway stopped');
      expect(gw.output()).not.to.include('Kazakh passport');
    } finally {
      await gw.stop();
      await removeNamespace(cz);
      await removeNamespace(kz);
    }
  });

  it('send refuses an invalid submission with its code and path, exit 1', async () => {
    const dir = tempDir('send');
    const msg = JSON.parse(readFileSync(join(ROOT, 'examples', 'messages', 'travel-document.json'), 'utf8'));
    delete msg.body.documents[0].status;
    writeFileSync(join(dir, 'm.json'), JSON.stringify(msg));
    const r = await run(['send', '--config', 'config/cz.json', '--file', join(dir, 'm.json')]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include('schema.invalid');
    expect(r.stderr).to.include('body.documents.0.status');
  });
});
