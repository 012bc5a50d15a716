/**
 * `accord envelope seal / open / inspect`: one message at a time, with given key files, for security
 * staff — to reproduce what a gateway sends, check what it received, or look at a captured JWE without
 * keys. Input comes on stdin, size-limited before it is parsed; refusals print `code: message` on stderr
 * and exit 1, bad usage and bad key files exit 2 (DESIGN §4).
 */
import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { inspectSealed } from '../crypto/inspect.js';
import { readPublicJwks } from '../crypto/jwk.js';
import { importKeys, KeyRing, pinnedLookup } from '../crypto/keyring.js';
import { loadPrivateJwks } from '../crypto/keystore.js';
import { open } from '../crypto/open.js';
import { FULL_PROFILE, type CryptoProfile } from '../crypto/profile.js';
import { seal } from '../crypto/seal.js';
import { Address } from '../domain/common.js';
import { Envelope } from '../domain/envelope.js';
import { parseJson, validate } from '../domain/parse.js';
import { AccordError } from '../errors.js';
import { EXIT_OK, EXIT_REFUSED, EXIT_USAGE, reportError } from './exit.js';

/** Where the CLI takes a key file's passphrase from when no `--passphrase-file` is given. */
export const PASSPHRASE_ENV = 'ACCORD_KEY_PASSPHRASE';

interface KeyOpts {
  keys?: string;
  peer?: string;
  passphraseFile?: string;
  config?: string;
}

/** Read all of stdin, refusing more than `maxBytes` as soon as it is exceeded (nothing is buffered beyond). */
export async function readStdin(maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      process.stdin.destroy();
      throw new AccordError('input.too_large', `stdin is over the limit of ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function profileOf(opts: KeyOpts): CryptoProfile {
  return opts.config === undefined ? FULL_PROFILE : loadConfig(opts.config).crypto;
}

/** With a gateway config, an opened envelope must name the peer as sender and this party as recipient. */
function checkParties(opts: KeyOpts, env: Envelope): void {
  if (opts.config === undefined) return;
  const config = loadConfig(opts.config);
  if (env.to.party !== config.party) {
    throw new AccordError('envelope.wrong_recipient', `the envelope is not addressed to ${config.party}`, {
      path: 'to.party',
    });
  }
  if (env.from.party !== config.peer.party) {
    throw new AccordError('envelope.wrong_sender', `the envelope is not from ${config.peer.party}`, {
      path: 'from.party',
    });
  }
}

async function ownKeys(opts: KeyOpts) {
  if (opts.keys === undefined) throw new AccordError('keys.invalid', '--keys is required');
  return loadPrivateJwks({
    privateJwks: opts.keys,
    passphraseEnv: PASSPHRASE_ENV,
    ...(opts.passphraseFile === undefined ? {} : { passphraseFile: opts.passphraseFile }),
  });
}

async function keyRing(opts: KeyOpts): Promise<KeyRing> {
  const own = await ownKeys(opts);
  if (opts.peer === undefined) throw new AccordError('keys.invalid', '--peer is required');
  return KeyRing.fromSets(own, readPublicJwks(opts.peer));
}

/** `CZ:cz-pp-ipc` as an address, or undefined when it is not one. */
function parseAddress(value: string): Address | undefined {
  const at = value.indexOf(':');
  const parsed = Address.safeParse({ party: value.slice(0, at), authority: value.slice(at + 1) });
  return at > 0 && parsed.success ? parsed.data : undefined;
}

function usage(message: string): void {
  process.stderr.write(`${message}\n`);
  process.exitCode = EXIT_USAGE;
}

function withKeyOptions(cmd: Command, required: boolean): Command {
  const add = required ? cmd.requiredOption.bind(cmd) : cmd.option.bind(cmd);
  add('--keys <file>', 'own private JWK Set (plain or encrypted)');
  add('--peer <file>', "the peer's public JWK Set");
  return cmd
    .option(
      '--passphrase-file <file>',
      `passphrase of an encrypted --keys file (default: $${PASSPHRASE_ENV})`,
    )
    .option(
      '--config <file>',
      'a gateway config: its allow-lists and size limit, and (open) its party as the recipient',
    );
}

export function registerEnvelope(program: Command): void {
  const envelope = program.command('envelope').description('seal, open or inspect one message');

  withKeyOptions(
    envelope
      .command('seal')
      .description('sign and encrypt the envelope JSON on stdin; print the JWE')
      .requiredOption('--from <party:authority>', 'the sender the envelope must name, e.g. CZ:cz-pp-ipc')
      .requiredOption('--to <party:authority>', 'the recipient the envelope must name, e.g. KZ:kz-mia'),
    true,
  ).action(async (opts: KeyOpts & { from: string; to: string }) => {
    const from = parseAddress(opts.from);
    const to = parseAddress(opts.to);
    if (!from || !to) {
      usage('schema.invalid: --from and --to are PARTY:authority, e.g. CZ:cz-pp-ipc');
      return;
    }
    try {
      const profile = profileOf(opts);
      const ring = await keyRing(opts);
      const input = await readStdin(profile.maxMessageBytes);
      const env = validate(Envelope, parseJson(input, profile.maxMessageBytes), 'envelope');
      if (env.from.party !== from.party || env.from.authority !== from.authority) {
        throw new AccordError('envelope.wrong_sender', 'the envelope names another sender than --from', {
          path: 'from',
        });
      }
      if (env.to.party !== to.party || env.to.authority !== to.authority) {
        throw new AccordError('envelope.wrong_recipient', 'the envelope names another recipient than --to', {
          path: 'to',
        });
      }
      // The checked envelope is what is signed, as the gateway signs it.
      const jwe = await seal(Buffer.from(JSON.stringify(env)), ring, profile);
      process.stdout.write(`${jwe}\n`);
      process.exitCode = EXIT_OK;
    } catch (err) {
      process.exitCode = reportError(err);
    }
  });

  withKeyOptions(
    envelope.command('open').description('decrypt and verify the JWE on stdin; print the verified envelope'),
    true,
  ).action(async (opts: KeyOpts) => {
    try {
      const profile = profileOf(opts);
      const ring = await keyRing(opts);
      // A trailing newline is what a shell or an editor adds; the JWE itself is one line.
      const input = trimNewline(await readStdin(profile.maxMessageBytes + 2));
      const { payload } = await open(input, ring, profile);
      const env = validate(Envelope, parseJson(payload, profile.maxMessageBytes), 'envelope');
      checkParties(opts, env);
      process.stdout.write(`${JSON.stringify(env, null, 2)}\n`);
      process.exitCode = EXIT_OK;
    } catch (err) {
      process.exitCode = reportError(err);
    }
  });

  withKeyOptions(
    envelope
      .command('inspect')
      .description('print the protected headers of the JWE on stdin (the inner one only with --keys)'),
    false,
  ).action(async (opts: KeyOpts) => {
    try {
      const profile = profileOf(opts);
      const keys: Parameters<typeof inspectSealed>[2] = {};
      if (opts.keys !== undefined) {
        const own = await ownKeys(opts);
        keys.decryption = pinnedLookup(
          await importKeys(own.keys.filter((k) => k.use === 'enc')),
          'own decryption',
        );
      }
      if (opts.peer !== undefined) {
        const peer = readPublicJwks(opts.peer);
        keys.verification = pinnedLookup(
          await importKeys(peer.keys.filter((k) => k.use === 'sig')),
          'pinned peer signing',
        );
      }
      const input = trimNewline(await readStdin(profile.maxMessageBytes + 2));
      const result = await inspectSealed(input, profile, keys);
      const { ok, ...shown } = result;
      process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
      process.exitCode = ok ? EXIT_OK : EXIT_REFUSED;
    } catch (err) {
      process.exitCode = reportError(err);
    }
  });
}

function trimNewline(b: Buffer): Buffer {
  let end = b.length;
  if (end > 0 && b[end - 1] === 0x0a) end--;
  if (end > 0 && b[end - 1] === 0x0d) end--;
  return b.subarray(0, end);
}
