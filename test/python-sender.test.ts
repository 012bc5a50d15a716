/**
 * docs/protocol.md, "An independent sender": conformance/python/sender.py, a second implementation of
 * the sending side written from the protocol document alone (python3, jwcrypto and pika from Debian),
 * plays CZ's gateway against a real KZ gateway. CZ's gateway is not running: the python sender provides
 * CZ's ingress itself and reads KZ's receipt from it. What it seals must reach the KZ authority intact,
 * and KZ's receipt must pass the python side's checks (signature, addresses, digest, status); what it
 * seals with the wrong key must be parked by KZ and answered by nothing.
 */
import { expect } from 'chai';
import { execFile, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { names, type Config } from '../src/config.js';
import { Gateway } from '../src/gateway.js';
import {
  AMQP_URL,
  ROOT,
  authority,
  pairConfigs,
  removeNamespace,
  uniqueStem,
  waitForDeadLetter,
  type TestAuthority,
} from './helpers/harness.js';
import { tempDir } from './helpers/temp.js';

const SENDER = join(ROOT, 'conformance', 'python', 'sender.py');
const MODULES = 'jwcrypto and pika';
const APT = 'apt-get install -y python3-jwcrypto python3-pika';

/** The first python3 that has both modules: Debian's (/usr/bin/python3, where apt puts them), then PATH's. */
function findPython(): string | undefined {
  for (const py of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(py, ['-c', 'import jwcrypto, pika'], { stdio: 'ignore', timeout: 10_000 });
    if (r.status === 0) return py;
  }
  return undefined;
}

interface SenderResult {
  ok: boolean;
  id?: string;
  jweSha256?: string;
  priority?: string;
  copies?: number;
  error?: string;
  detail?: string;
  receipt?: { status: string; jweSha256: string; from: unknown; jwsKid: string; receivedAt: string };
}

/** Run the python sender (asynchronously: the KZ gateway runs in this process); its exit code and JSON line. */
async function runSender(
  python: string,
  config: Record<string, unknown>,
  args: string[] = [],
): Promise<{ code: number; result: SenderResult; stderr: string }> {
  const file = join(tempDir('pysender'), 'sender.json');
  writeFileSync(file, JSON.stringify(config));
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>(
    (resolve) => {
      execFile(python, [SENDER, '--config', file, ...args], { timeout: 60_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
      );
    },
  );
  const lines = stdout.trim().split('\n');
  expect(lines, `one line of JSON on stdout; stderr: ${stderr}`).to.have.length(1);
  return { code, result: JSON.parse(lines[0]!) as SenderResult, stderr };
}

describe('an independent sender: conformance/python/sender.py against a KZ gateway', function () {
  this.timeout(90_000);
  let python: string | undefined;
  let cz: Config | undefined;
  let kz: Config | undefined;
  let gw: Gateway | undefined;
  let mia: TestAuthority | undefined;

  /** The sender's config: CZ's keys and namespace, KZ's public keys and namespace, one broker for both. */
  function senderConfig(over: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      peerAmqpUrl: AMQP_URL,
      ownAmqpUrl: AMQP_URL,
      peerNamespace: kz!.namespace,
      ownNamespace: cz!.namespace,
      ownKeys: cz!.keys.privateJwks,
      peerKeys: cz!.peer.publicJwks,
      from: { party: 'CZ', authority: 'cz-pp-ipc' },
      to: { party: 'KZ', authority: 'kz-mia' },
      timeoutS: 30,
      ...over,
    };
  }

  /** The kid of CZ's signing key, the one the python sender signs with. */
  function ownSigningKid(): string {
    const set = JSON.parse(readFileSync(cz!.keys.privateJwks, 'utf8')) as {
      keys: { kid: string; use: string }[];
    };
    return set.keys.find((k) => k.use === 'sig')!.kid;
  }

  before(async function () {
    python = findPython();
    if (python === undefined) {
      console.log(
        `      skipped: no python3 with ${MODULES} (tried /usr/bin/python3 and python3 on PATH); on Debian: ${APT}`,
      );
      this.skip();
    }
    ({ cz, kz } = pairConfigs(uniqueStem()));
    gw = await Gateway.start(kz, pino({ level: 'silent' }));
    mia = await authority(kz, 'kz-mia');
  });
  after(async () => {
    await mia?.client.close();
    await gw?.stop();
    // CZ's ingress and peer exchange were declared by the python sender.
    if (cz) await removeNamespace(cz);
    if (kz) await removeNamespace(kz);
  });

  for (const priority of ['normal', 'urgent'] as const) {
    it(`delivers its ${priority} request to the KZ authority intact and verifies KZ's delivered receipt`, async () => {
      const body = {
        crimeCategories: ['forgery'],
        informationTypes: ['travel-documents'],
        // Given, although the schema has a default for it: the receiver delivers a left-out member
        // with its schema default (an empty list here), so only a body that names it comes back equal.
        assistanceTypes: ['search-objects'],
        summary: 'Ověření pasu – проверка паспорта (python sender)',
        details: `Sealed by jwcrypto, ${priority}.`,
      };
      const { code, result, stderr } = await runSender(python!, senderConfig({ body }), [
        '--priority',
        priority,
      ]);
      expect(code, `${JSON.stringify(result)} ${stderr}`).to.equal(0);
      expect(result).to.deep.include({ ok: true, priority, copies: 1 });
      expect(result.receipt).to.deep.include({
        status: 'delivered',
        jweSha256: result.jweSha256,
        from: { party: 'KZ', authority: 'kz-mia' },
      });
      const d = await mia!.inbox.waitFor((x) => x.envelope.id === result.id, 10_000, 'the python request');
      expect(d.envelope).to.deep.include({
        kind: 'request',
        priority,
        from: { party: 'CZ', authority: 'cz-pp-ipc' },
        to: { party: 'KZ', authority: 'kz-mia' },
      });
      expect(d.envelope.body).to.deep.equal(body);
      expect(d.verification.jweSha256).to.equal(result.jweSha256);
      expect(d.verification.signatureKid).to.equal(ownSigningKid());
    });
  }

  it('sealed anew under an id KZ already took in: KZ answers with the stored receipt, whose digest the python side refuses', async () => {
    const first = await runSender(python!, senderConfig());
    expect(first.code, JSON.stringify(first.result)).to.equal(0);
    // [P-DUP-4]: the same id, other bytes (a new seal) gets the first receipt, byte for byte: its
    // jweSha256 is the first JWE's, so it is not a receipt for what was sent now ([P-RCPT-5]).
    const again = await runSender(python!, senderConfig({ timeoutS: 15 }), ['--id', first.result.id!]);
    expect(again.code, JSON.stringify(again.result)).to.equal(3);
    expect(again.result).to.deep.include({
      ok: false,
      id: first.result.id,
      error: 'receipt.digest_mismatch',
    });
    expect(again.result.jweSha256).not.to.equal(first.result.jweSha256);
    await mia!.inbox.waitFor((x) => x.envelope.id === first.result.id, 10_000, 'the first request');
    await new Promise((r) => setTimeout(r, 500));
    expect(mia!.inbox.items.filter((x) => x.envelope.id === first.result.id)).to.have.length(1);
  });

  it('signed with a key that is not CZ’s: KZ parks it as crypto.bad_signature, delivers nothing, and the python side reports no receipt', async () => {
    // CZ's own key set, with its signing key's private half replaced by a fresh P-256 key of the same kid.
    const set = JSON.parse(readFileSync(cz!.keys.privateJwks, 'utf8')) as { keys: Record<string, unknown>[] };
    const fresh = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
    const keys = set.keys.map((k) => (k.use === 'sig' ? { ...k, x: fresh.x, y: fresh.y, d: fresh.d } : k));
    const wrong = join(tempDir('pysender-wrong'), 'private.jwks.json');
    writeFileSync(wrong, JSON.stringify({ keys }), { mode: 0o600 });

    const { code, result } = await runSender(
      python!,
      senderConfig({ ownKeys: wrong, timeoutS: 6, resendAfterS: 0 }),
    );
    expect(code).to.equal(2);
    expect(result).to.deep.include({ ok: false, error: 'delivery.no_receipt', copies: 1 });
    await waitForDeadLetter(
      names(kz!.namespace).dlq,
      (l) => l.code === 'crypto.bad_signature' && l.inputSha256 === result.jweSha256,
    );
    expect(mia!.inbox.items.map((x) => x.envelope.id)).not.to.include(result.id);
  });
});
