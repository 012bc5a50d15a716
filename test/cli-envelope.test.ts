/**
 * `accord envelope seal / open / inspect` and the key commands for keys at rest, run as security staff
 * run them: `node dist/src/cli/main.js`, input on stdin, exit codes 0 / 1 (refused) / 2 (usage, keys).
 * No output of any run — stdout or stderr — may carry a passphrase or a private key member, and no
 * refusal may print the envelope's content.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readPublicJwks } from '../src/crypto/jwk.js';
import { loadPrivateJwks } from '../src/crypto/keystore.js';
import { ROOT, example, pairConfigs, uniqueStem } from './helpers/harness.js';
import { tempDir } from './helpers/temp.js';

const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const PASSPHRASE = 'seven correct horses on a battery staple';
const SECRET_TEXT = 'Kazakh passport N12345678';
type Json = Record<string, any>;

/** Everything no output may contain; private key members are added as keys are made. */
const secrets = new Set<string>([PASSPHRASE]);
/** Every run's output, swept for secrets at the end. */
const outputs: string[] = [];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the CLI with `stdin` as input; the environment is the test's plus `env` (undefined removes). */
async function run(args: string[], stdin = '', env: Record<string, string | undefined> = {}): Promise<Run> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ACCORD_KEY_PASSPHRASE: undefined, ...env };
  for (const [k, v] of Object.entries(childEnv)) if (v === undefined) delete childEnv[k];
  const child = spawn('node', [CLI, ...args], { cwd: ROOT, env: childEnv, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  // The CLI may stop reading early (a refused size); a broken pipe is then expected.
  child.stdin.on('error', () => undefined);
  child.stdin.end(stdin);
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  outputs.push(stdout, stderr);
  return { code, stdout, stderr };
}

function rememberKeys(file: string): void {
  const set = JSON.parse(readFileSync(file, 'utf8')) as { keys: Json[] };
  for (const k of set.keys) for (const m of ['d', 'p', 'q', 'dp', 'dq', 'qi']) if (k[m]) secrets.add(k[m]);
}

/** An envelope as the CZ gateway would sign it, from the example request. */
function envelope(): Json {
  const sub = example('request', 'cz-pp-ipc/cli/1');
  const now = Date.now();
  return {
    v: 1,
    id: '2d7c3b1a-5e4f-4a6b-8c9d-0e1f2a3b4c5d',
    from: { party: 'CZ', authority: sub.from },
    to: sub.to,
    createdAt: new Date(now).toISOString(),
    expiresAt: new Date(now + 86_400_000).toISOString(),
    priority: sub.priority,
    language: sub.language,
    handling: { ...sub.handling, sensitive: [] },
    kind: sub.kind,
    body: sub.body,
  };
}

function replacePart(compact: string, i: number, value: string): string {
  const parts = compact.split('.');
  parts[i] = value;
  return parts.join('.');
}

describe('cli: envelope and keys at rest', function () {
  this.timeout(60_000);
  let dir: string;
  /** CZ: ES256 + P-256; KZ: PS256 + RSA-OAEP-256 (so both directions cover both families). */
  let cz: { priv: string; pub: string };
  let kz: { priv: string; pub: string };
  let env: Json;
  let jwe: string;

  before(async () => {
    dir = tempDir('cli-env');
    const a = await run(['keys', 'generate', '--party', 'CZ', '--out', join(dir, 'cz')]);
    const b = await run([
      'keys',
      'generate',
      '--party',
      'KZ',
      '--out',
      join(dir, 'kz'),
      '--sig',
      'PS256',
      '--enc',
      'RSA-OAEP-256',
    ]);
    expect([a.code, b.code], a.stderr + b.stderr).to.deep.equal([0, 0]);
    cz = { priv: join(dir, 'cz', 'private.jwks.json'), pub: join(dir, 'cz', 'public.jwks.json') };
    kz = { priv: join(dir, 'kz', 'private.jwks.json'), pub: join(dir, 'kz', 'public.jwks.json') };
    rememberKeys(cz.priv);
    rememberKeys(kz.priv);
    env = envelope();
    const sealed = await run(
      [
        'envelope',
        'seal',
        '--keys',
        cz.priv,
        '--peer',
        kz.pub,
        '--from',
        'CZ:cz-pp-ipc',
        '--to',
        'KZ:kz-mia',
      ],
      JSON.stringify(env),
    );
    expect(sealed.code, sealed.stderr).to.equal(0);
    jwe = sealed.stdout.trim();
  });

  const sealArgs = (from = 'CZ:cz-pp-ipc', to = 'KZ:kz-mia') => [
    'envelope',
    'seal',
    '--keys',
    cz.priv,
    '--peer',
    kz.pub,
    '--from',
    from,
    '--to',
    to,
  ];
  const openArgs = () => ['envelope', 'open', '--keys', kz.priv, '--peer', cz.pub];

  describe('keys generate', () => {
    it('makes PS256 + RSA-OAEP-256 keys with --sig/--enc, and a P-384 encryption key with --crv', async () => {
      expect(readPublicJwks(kz.pub).keys.map((k) => [k.use, k.alg, k.kty])).to.deep.equal([
        ['sig', 'PS256', 'RSA'],
        ['enc', 'RSA-OAEP-256', 'RSA'],
      ]);
      const out = join(dir, 'p384');
      const r = await run(['keys', 'generate', '--party', 'KZ', '--out', out, '--crv', 'P-384']);
      expect(r.code, r.stderr).to.equal(0);
      rememberKeys(join(out, 'private.jwks.json'));
      expect(
        readPublicJwks(join(out, 'public.jwks.json')).keys.map((k) => (k.kty === 'EC' ? k.crv : '')),
      ).to.deep.equal(['P-256', 'P-384']);
    });

    it('exits 2 for an algorithm it does not offer, and for --crv with RSA-OAEP-256', async () => {
      const out = join(dir, 'never');
      expect(
        (await run(['keys', 'generate', '--party', 'CZ', '--out', out, '--sig', 'RS256'])).code,
      ).to.equal(2);
      const crv = await run([
        'keys',
        'generate',
        '--party',
        'CZ',
        '--out',
        out,
        '--enc',
        'RSA-OAEP-256',
        '--crv',
        'P-384',
      ]);
      expect(crv.code).to.equal(2);
      expect(crv.stderr).to.include('--crv');
      expect(existsSync(out)).to.equal(false);
    });

    it('--encrypt writes private.jwks.jwe (mode 600) with the passphrase from ACCORD_KEY_PASSPHRASE', async () => {
      const out = join(dir, 'enc');
      const r = await run(['keys', 'generate', '--party', 'CZ', '--out', out, '--encrypt'], '', {
        ACCORD_KEY_PASSPHRASE: PASSPHRASE,
      });
      expect(r.code, r.stderr).to.equal(0);
      const file = join(out, 'private.jwks.jwe');
      expect(statSync(file).mode & 0o777).to.equal(0o600);
      expect(existsSync(join(out, 'private.jwks.json'))).to.equal(false);
      const text = readFileSync(file, 'utf8');
      expect(text.trim().split('.')).to.have.length(5);
      const set = await loadPrivateJwks({ privateJwks: file, passphraseEnv: 'P' }, { P: PASSPHRASE });
      for (const k of set.keys) secrets.add((k as Json).d as string);
      expect(set.keys.map((k) => k.kid)).to.deep.equal(
        readPublicJwks(join(out, 'public.jwks.json')).keys.map((k) => k.kid),
      );
    });

    it('--encrypt without a passphrase exits 2 and writes nothing', async () => {
      const out = join(dir, 'nopass');
      const r = await run(['keys', 'generate', '--party', 'CZ', '--out', out, '--encrypt']);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.match(/^keys\.invalid: .*ACCORD_KEY_PASSPHRASE/);
      expect(existsSync(join(out, 'public.jwks.json'))).to.equal(false);
    });
  });

  describe('keys encrypt', () => {
    it('encrypts a plain private set (passphrase file), which then opens messages like the plain one', async () => {
      const passFile = join(dir, 'pass');
      writeFileSync(passFile, `${PASSPHRASE}\n`, { mode: 0o600 });
      const out = join(dir, 'kz-private.jwks.jwe');
      const r = await run(['keys', 'encrypt', '--in', kz.priv, '--out', out, '--passphrase-file', passFile]);
      expect(r.code, r.stderr).to.equal(0);
      expect(statSync(out).mode & 0o777).to.equal(0o600);
      const opened = await run(
        ['envelope', 'open', '--keys', out, '--peer', cz.pub, '--passphrase-file', passFile],
        jwe,
      );
      expect(opened.code, opened.stderr).to.equal(0);
      expect(JSON.parse(opened.stdout)).to.deep.equal(env);
      const viaEnv = await run(['envelope', 'open', '--keys', out, '--peer', cz.pub], jwe, {
        ACCORD_KEY_PASSPHRASE: PASSPHRASE,
      });
      expect(viaEnv.code, viaEnv.stderr).to.equal(0);

      const wrong = await run(['envelope', 'open', '--keys', out, '--peer', cz.pub], jwe, {
        ACCORD_KEY_PASSPHRASE: 'not the passphrase at all',
      });
      secrets.add('not the passphrase at all');
      expect(wrong.code).to.equal(2);
      expect(wrong.stderr).to.match(/^keys\.invalid: .*wrong passphrase/);
      expect(wrong.stdout).to.equal('');

      const again = await run([
        'keys',
        'encrypt',
        '--in',
        out,
        '--out',
        join(dir, 'x.jwe'),
        '--passphrase-file',
        passFile,
      ]);
      expect(again.code).to.equal(2);
      expect(again.stderr).to.include('already encrypted');
      const exists = await run([
        'keys',
        'encrypt',
        '--in',
        kz.priv,
        '--out',
        out,
        '--passphrase-file',
        passFile,
      ]);
      expect(exists.code).to.equal(2);
      expect(exists.stderr).to.include('already exists');
    });
  });

  describe('envelope seal and open', () => {
    it('seal prints a compact JWE; open prints the envelope exactly as sealed', async () => {
      expect(jwe.split('.')).to.have.length(5);
      const opened = await run(openArgs(), `${jwe}\n`);
      expect(opened.code, opened.stderr).to.equal(0);
      expect(JSON.parse(opened.stdout)).to.deep.equal(env);
    });

    it('round-trips the other way (PS256 + RSA-OAEP-256 sender, ES256 + ECDH-ES receiver)', async () => {
      const back = {
        ...envelope(),
        from: { party: 'KZ', authority: 'kz-mia' },
        to: { party: 'CZ', authority: 'cz-pp-ipc' },
      };
      const sealed = await run(
        [
          'envelope',
          'seal',
          '--keys',
          kz.priv,
          '--peer',
          cz.pub,
          '--from',
          'KZ:kz-mia',
          '--to',
          'CZ:cz-pp-ipc',
        ],
        JSON.stringify(back),
      );
      expect(sealed.code, sealed.stderr).to.equal(0);
      const opened = await run(['envelope', 'open', '--keys', cz.priv, '--peer', kz.pub], sealed.stdout);
      expect(opened.code, opened.stderr).to.equal(0);
      expect(JSON.parse(opened.stdout)).to.deep.equal(back);
    });

    it('seal refuses an envelope that is not one, with its code and path (exit 1)', async () => {
      const bad = envelope();
      delete bad.expiresAt;
      const r = await run(sealArgs(), JSON.stringify(bad));
      expect(r.code).to.equal(1);
      expect(r.stderr).to.match(/^schema\.invalid: .*\(at expiresAt\)/);
      expect(r.stdout).to.equal('');
      const notJson = await run(sealArgs(), '{"v":');
      expect(notJson.code).to.equal(1);
      expect(notJson.stderr).to.match(/^input\.not_json: /);
    });

    it('seal refuses an envelope whose sender or recipient is not the one given (exit 1)', async () => {
      const from = await run(sealArgs('CZ:cz-nocs'), JSON.stringify(env));
      expect(from.code).to.equal(1);
      expect(from.stderr).to.match(/^envelope\.wrong_sender: /);
      const to = await run(sealArgs('CZ:cz-pp-ipc', 'KZ:kz-ncb'), JSON.stringify(env));
      expect(to.code).to.equal(1);
      expect(to.stderr).to.match(/^envelope\.wrong_recipient: /);
      expect(from.stdout + to.stdout).to.equal('');
    });

    it('seal exits 2 for a --from that is not PARTY:authority', async () => {
      for (const bad of ['cz-pp-ipc', 'XX:cz-pp-ipc', 'CZ:', ':cz-pp-ipc']) {
        expect((await run(sealArgs(bad), JSON.stringify(env))).code, bad).to.equal(2);
      }
    });

    it('seal and open refuse stdin over the size limit (input.too_large, exit 1)', async () => {
      const big = 'x'.repeat(4 * 1024 * 1024 + 10);
      const s = await run(sealArgs(), big);
      expect(s.code).to.equal(1);
      expect(s.stderr).to.match(/^input\.too_large: /);
      const o = await run(openArgs(), big);
      expect(o.code).to.equal(1);
      expect(o.stderr).to.match(/^input\.too_large: /);
    });

    ['protected header', 'encrypted key', 'IV', 'ciphertext', 'tag'].forEach((name, i) => {
      it(`open refuses a JWE with a changed ${name}: exit 1, the code on stderr, nothing on stdout`, async () => {
        const bytes = Buffer.from(jwe.split('.')[i]!, 'base64url');
        bytes[1] = bytes[1]! ^ 0x20;
        const r = await run(openArgs(), replacePart(jwe, i, bytes.toString('base64url')));
        expect(r.code).to.equal(1);
        expect(r.stderr).to.match(/^crypto\.[a-z_]+: /);
        expect(r.stdout).to.equal('');
      });
    });

    it('open refuses a message for other keys (crypto.unknown_kid) and one that is not a JWE (crypto.malformed)', async () => {
      const other = await run(['envelope', 'open', '--keys', cz.priv, '--peer', kz.pub], jwe);
      expect(other.code).to.equal(1);
      expect(other.stderr).to.match(/^crypto\.unknown_kid: /);
      const junk = await run(openArgs(), 'not.a.jwe');
      expect(junk.code).to.equal(1);
      expect(junk.stderr).to.match(/^crypto\.malformed: /);
    });

    it('open with a gateway config refuses an algorithm that config does not allow', async () => {
      // config/kz.json allows the defaults only (ES256, ECDH-ES+A256KW); this message is RSA-OAEP-256.
      const r = await run([...openArgs(), '--config', 'config/kz.json'], jwe);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.match(/^crypto\.alg_not_allowed: .*\(at jwe\.alg\)/);
    });

    it('open refuses a key file others can read, and an unencrypted key with NODE_ENV=production (exit 2)', async () => {
      chmodSync(kz.priv, 0o644);
      try {
        const r = await run(openArgs(), jwe);
        expect(r.code).to.equal(2);
        expect(r.stderr).to.match(/^keys\.invalid: .*mode 644/);
      } finally {
        chmodSync(kz.priv, 0o600);
      }
      const prod = await run(openArgs(), jwe, { NODE_ENV: 'production' });
      expect(prod.code).to.equal(2);
      expect(prod.stderr).to.match(/^keys\.invalid: .*NODE_ENV=production/);
    });
  });

  describe('envelope inspect', () => {
    it('without keys prints the outer header and part sizes, says the inner one is encrypted, exit 0', async () => {
      const r = await run(['envelope', 'inspect'], `${jwe}\n`);
      expect(r.code, r.stderr).to.equal(0);
      const out = JSON.parse(r.stdout) as Json;
      expect(out.jwe.protected).to.include({
        alg: 'RSA-OAEP-256',
        enc: 'A256GCM',
        typ: 'accord-message+jwe',
      });
      expect(out.jwe.check).to.equal('ok');
      expect(out.jwe.parts).to.deep.include({ iv: 12, tag: 16, encryptedKey: 384 });
      expect(out.jws).to.be.a('string').and.include('encrypted');
      expect(out.bytes).to.equal(jwe.length);
      expect(r.stdout).not.to.include(SECRET_TEXT);
    });

    it('with --keys and --peer also prints the inner JWS header and whether it verifies; never the payload', async () => {
      const r = await run(['envelope', 'inspect', '--keys', kz.priv, '--peer', cz.pub], jwe);
      expect(r.code, r.stderr).to.equal(0);
      const out = JSON.parse(r.stdout) as Json;
      expect(out.jws.protected).to.include({ alg: 'ES256', typ: 'accord-envelope+jws' });
      expect(out.jws.check).to.match(/^ok: the signature verifies/);
      expect(r.stdout).not.to.include(SECRET_TEXT);
      expect(r.stdout).not.to.include('kz-mia');
    });

    it('shows what is wrong with a captured message and exits 1', async () => {
      const h = JSON.parse(Buffer.from(jwe.split('.')[0]!, 'base64url').toString('utf8')) as Json;
      h.zip = 'DEF';
      const tampered = replacePart(jwe, 0, Buffer.from(JSON.stringify(h)).toString('base64url'));
      const r = await run(['envelope', 'inspect'], tampered);
      expect(r.code).to.equal(1);
      const out = JSON.parse(r.stdout) as Json;
      expect(out.jwe.protected.zip).to.equal('DEF');
      expect(out.jwe.check).to.equal(
        'crypto.header_invalid: jwe header parameter "zip" is not accepted (at jwe.zip)',
      );
      const wrongKeys = await run(['envelope', 'inspect', '--keys', cz.priv], jwe);
      expect(wrongKeys.code).to.equal(1);
      expect((JSON.parse(wrongKeys.stdout) as Json).jws).to.match(/^not decrypted: crypto\.unknown_kid/);
      const junk = await run(['envelope', 'inspect'], 'a.b');
      expect(junk.code).to.equal(1);
      expect(junk.stderr).to.match(/^crypto\.malformed: /);
    });
  });

  describe('accord start with key files at rest', () => {
    /** A CZ config (own namespaces) whose private key is `keyFile`. */
    function config(keyFile: string): string {
      const { cz: czConfig } = pairConfigs(uniqueStem());
      const raw = JSON.parse(readFileSync(join(ROOT, 'config', 'cz.json'), 'utf8')) as Json;
      raw.namespace = czConfig.namespace;
      raw.keys.privateJwks = keyFile;
      raw.peer.publicJwks = czConfig.peer.publicJwks;
      const file = join(dir, `start-${uniqueStem()}.json`);
      writeFileSync(file, JSON.stringify(raw));
      return file;
    }

    it('refuses to start with a private key file others can read (keys.invalid, exit 2)', async () => {
      const key = join(dir, 'cz-open.jwks.json');
      writeFileSync(key, readFileSync(join(ROOT, 'certs-example', 'cz', 'private.jwks.json')));
      chmodSync(key, 0o644);
      const r = await run(['start', '--config', config(key)]);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.match(/^keys\.invalid: .*mode 644/m);
    });

    it('refuses to start with an unencrypted private key when NODE_ENV=production (exit 2)', async () => {
      const r = await run(
        ['start', '--config', config(join(ROOT, 'certs-example', 'cz', 'private.jwks.json'))],
        '',
        {
          NODE_ENV: 'production',
          // What production requires of the config besides the keys (src/config-production.ts).
          ACCORD_IDENTIFIER_KEY: randomBytes(32).toString('base64'),
          ACCORD_PEER_AMQP_URL: 'amqps://guest:guest@127.0.0.1:5671',
        },
      );
      expect(r.code).to.equal(2);
      expect(r.stderr).to.match(/^keys\.invalid: .*NODE_ENV=production/m);
    });
  });

  describe('output carries no secret', () => {
    it('no run above printed a passphrase or a private key member', function () {
      if (outputs.length === 0) this.skip();
      expect(secrets.size).to.be.greaterThan(10);
      const all = outputs.join('\n');
      for (const s of secrets) expect(all.includes(s), 'a secret in CLI output').to.equal(false);
    });
  });
});
