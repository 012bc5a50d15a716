/**
 * `accord conformance` (docs/protocol.md, "Conformance kit") run as a command against Accord gateways
 * on the real broker: a correct one passes every requirement the kit checks; one whose clock is two
 * hours behind (it takes expired messages in and refuses fresh ones as not yet valid) fails the
 * requirements that shows, and so does a responder that answers every message with a receipt; a bad
 * option or config is a usage error.
 */
import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import amqp, { type ChannelModel } from 'amqplib';
import { pino } from 'pino';
import { shiftedClock } from '../src/clock.js';
import { names, type Config } from '../src/config.js';
import { receiptDigest } from '../src/conformance/classes.js';
import { KeyRing } from '../src/crypto/keyring.js';
import { seal } from '../src/crypto/seal.js';
import type { KitReport } from '../src/conformance/report.js';
import { Gateway } from '../src/gateway.js';
import {
  AMQP_URL,
  configFileFor,
  ingressWithoutGateway,
  ownKeyCopies,
  pairConfigs,
  removeNamespace,
  runCli,
  uniqueStem,
} from './helpers/harness.js';
import { tempDir } from './helpers/temp.js';

/** The tested gateway of `party` (with `now` as its clock) and the other party's config, which the kit plays, as a file. */
async function tested(
  party: 'CZ' | 'KZ' = 'KZ',
  now?: () => Date,
  tweak: (raw: Record<string, any>) => void = () => undefined,
): Promise<{ cz: Config; kz: Config; gw: Gateway; kitConfig: string }> {
  const keys = ownKeyCopies();
  const { cz, kz } = pairConfigs(uniqueStem(), (raw) => {
    keys(raw);
    if (raw.party === party) tweak(raw);
    // The oversize class pads past this limit; the default 4 MiB would make it a 7 MB publish.
    raw.crypto = { ...raw.crypto, maxMessageBytes: 64 * 1024 };
  });
  const [gateway, player] = party === 'KZ' ? [kz, cz] : [cz, kz];
  const gw = await Gateway.start(gateway, pino({ level: 'silent' }), now);
  return { cz, kz, gw, kitConfig: configFileFor(player) };
}

const kit = (config: string, ...more: string[]) =>
  runCli([
    'conformance',
    '--peer-url',
    AMQP_URL,
    '--config',
    config,
    '--max-message-bytes',
    '65536',
    ...more,
  ]);

describe('accord conformance: the kit plays the peer gateway', function () {
  this.timeout(60_000);

  for (const party of ['KZ', 'CZ'] as const)
    describe(`against a conforming Accord gateway of ${party}`, () => {
      let t: Awaited<ReturnType<typeof tested>>;
      before(async () => {
        // CZ's gateway refuses in-band key messages, which section 5.4 allows: not a failure.
        t = await tested(party, undefined, (raw) => {
          if (party === 'CZ') raw.keys = { ...raw.keys, acceptAnnouncements: false };
        });
      });
      after(async () => {
        await t?.gw.stop();
        await removeNamespace(t.cz);
        await removeNamespace(t.kz);
      });

      it('passes every requirement it checks, one line each with its evidence, and exits 0', async () => {
        const { code, stdout, stderr } = await kit(
          t.kitConfig,
          '--silence-ms',
          '2000',
          '--receipt-timeout-ms',
          '5000',
        );
        const lines = stdout.trim().split('\n');
        const line = (id: string) => lines.find((l) => l.split(/\s+/)[1] === `[${id}]`);
        const summary = JSON.parse(lines.at(-1)!) as {
          ok: boolean;
          pass: number;
          fail: number;
          failed: string[];
        };
        expect(summary.failed, stdout + stderr).to.deep.equal([]);
        expect(code).to.equal(0);
        expect(summary.pass).to.be.greaterThan(15);
        for (const id of [
          'P-RCPT-1',
          'P-RCPT-4',
          'P-ENV-2',
          'P-JOSE-2',
          'P-JOSE-8',
          'P-JOSE-9',
          'P-JOSE-12',
          'P-JOSE-13',
          'P-DUP-4',
          'P-HB-2',
        ]) {
          expect(line(id), id).to.match(/^PASS /);
        }
        expect(line('P-RCPT-1')).to.match(/receipt status delivered for message [0-9a-f-]{36} in \d+ ms/);
        expect(line('P-JOSE-13')).to.match(/no receipt within [\d.]+ s for message/);
        if (party === 'KZ')
          expect(line('P-KEY-1')).to.match(/^PASS .*key-announcement: receipt status delivered/);
        else expect(line('P-KEY-1')).to.match(/^SKIP .*may refuse in-band key messages/);
        // Not observable from the peer side: said so, with the reason.
        expect(line('P-AMQP-9')).to.match(/^SKIP .*inside/);
        if (party === 'KZ') console.log(stdout.replace(/^/gm, '      '));
      });
    });

  describe('against a gateway whose clock is two hours behind', () => {
    let t: Awaited<ReturnType<typeof tested>>;
    before(async () => {
      t = await tested('KZ', shiftedClock(-2 * 3600_000));
    });
    after(async () => {
      await t?.gw.stop();
      await removeNamespace(t.cz);
      await removeNamespace(t.kz);
    });

    it('FAILs [P-RCPT-1] (a fresh message gets no receipt) and [P-JOSE-13] (an expired one is taken in), and exits 1', async () => {
      const { code, stdout } = await kit(
        t.kitConfig,
        '--json',
        '--only',
        'travel-document,expired',
        '--receipt-timeout-ms',
        '3000',
        '--silence-ms',
        '1000',
      );
      expect(code, stdout).to.equal(1);
      const report = JSON.parse(stdout) as KitReport;
      const verdict = (id: string) => report.requirements.find((r) => r.id === id)!;
      expect(verdict('P-RCPT-1').verdict).to.equal('FAIL');
      expect(verdict('P-RCPT-1').evidence.join()).to.match(
        /travel-document: no receipt within 3 s for message/,
      );
      expect(verdict('P-JOSE-13').verdict).to.equal('FAIL');
      expect(verdict('P-JOSE-13').evidence.join()).to.match(
        /expired: receipt status delivered for message .* expected none/,
      );
      expect(report.ok).to.equal(false);
    });
  });

  describe('against a responder that answers every message with a receipt, checking nothing', () => {
    let cz: Config;
    let kz: Config;
    let conn: ChannelModel;

    before(async () => {
      ({ cz, kz } = pairConfigs(uniqueStem()));
      await ingressWithoutGateway(kz);
      const ring = await KeyRing.load(kz.keys, kz.peer.publicJwks);
      // A broken receiver on the real broker: every copy on KZ's ingress is answered `delivered`,
      // by the AMQP message-id, whatever the message is (a receipt that is an oracle, [P-ERR-1]).
      conn = await amqp.connect(AMQP_URL);
      const ch = await conn.createChannel();
      const n = names(kz.namespace);
      const peer = names(cz.namespace);
      await ch.consume(n.ingress, (m) => {
        if (m === null) return;
        ch.ack(m);
        const at = new Date();
        const receipt = {
          v: 1,
          id: randomUUID(),
          kind: 'receipt',
          from: { party: 'KZ', authority: kz.authorities[0]!.id },
          to: { party: 'CZ', authority: cz.authorities[0]!.id },
          createdAt: at.toISOString(),
          expiresAt: new Date(at.getTime() + 3600_000).toISOString(),
          priority: m.properties.priority === 9 ? 'urgent' : 'normal',
          language: 'en',
          handling: { purposes: [], conditions: [], sensitive: [] },
          body: {
            forMessageId: String(m.properties.messageId),
            jweSha256: receiptDigest(m.content),
            receivedAt: at.toISOString(),
            status: 'delivered',
          },
        };
        void seal(Buffer.from(JSON.stringify(receipt)), ring, kz.crypto).then((jwe) =>
          ch.publish(peer.peerExchange, peer.ingress, Buffer.from(jwe), { contentType: 'application/jose' }),
        );
      });
    });
    after(async () => {
      await conn?.close();
      await removeNamespace(cz);
      await removeNamespace(kz);
    });

    it('FAILs the refusals it answers ([P-ENV-2], [P-JOSE-9], [P-RCPT-2]) and passes what it takes in, exit 1', async () => {
      const { code, stdout } = await kit(
        configFileFor(cz),
        '--json',
        '--only',
        'travel-document,wrong-recipient,unknown-kid',
        '--silence-ms',
        '1000',
      );
      expect(code, stdout).to.equal(1);
      const report = JSON.parse(stdout) as KitReport;
      const verdict = (id: string) => report.requirements.find((r) => r.id === id)!;
      for (const id of ['P-ENV-2', 'P-JOSE-9', 'P-RCPT-2', 'P-ERR-1']) {
        expect(verdict(id).verdict, id).to.equal('FAIL');
        expect(verdict(id).evidence.join(), id).to.match(
          /receipt status delivered for message .* expected none/,
        );
      }
      expect(verdict('P-RCPT-1').verdict).to.equal('PASS');
      expect(verdict('P-RCPT-4').verdict).to.equal('PASS');
    });
  });

  it('FAILs [P-AMQP-1] when the tested broker has no peer exchange in that namespace (nothing to publish to)', async () => {
    const { cz, kz } = pairConfigs(uniqueStem());
    try {
      const { code, stdout } = await kit(configFileFor(cz), '--json', '--only', 'travel-document,expired');
      expect(code, stdout).to.equal(1);
      const report = JSON.parse(stdout) as KitReport;
      const amqp1 = report.requirements.find((r) => r.id === 'P-AMQP-1')!;
      expect(amqp1.verdict).to.equal('FAIL');
      expect(amqp1.evidence.join(), amqp1.evidence.join()).to.match(/the broker refused it: .*NOT_FOUND/);
      expect(report.requirements.find((r) => r.id === 'P-JOSE-13')?.verdict ?? 'absent').not.to.equal('PASS');
    } finally {
      await removeNamespace(cz);
      await removeNamespace(kz);
    }
  });

  it('is a usage error (exit 2) with the code and the field path for a bad option or config', async () => {
    const bad = await runCli(['conformance', '--peer-url', 'http://x', '--config', 'none.json']);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.match(/^input\.invalid: --peer-url: an amqp:\/\/ or amqps:\/\/ URL/);
    const file = join(tempDir('conformance'), 'kit.json');
    writeFileSync(file, JSON.stringify({ party: 'CZ', namespace: 'x' }));
    const invalid = await runCli(['conformance', '--peer-url', AMQP_URL, '--config', file]);
    expect(invalid.code).to.equal(2);
    expect(invalid.stderr, invalid.stderr).to.match(/^config\.invalid: [\s\S]*\n\s*peer: /);
  });
});
