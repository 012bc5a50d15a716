/** `accord keys …`: the key lifecycle, as standard JWK Set files, optionally encrypted at rest. */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { generatePartyKeys, thumbprint } from '../crypto/keygen.js';
import { readKeyFile, readPrivateJwks } from '../crypto/jwk.js';
import { encryptJwks, isEncryptedJwks, JWKS_KEY_ALG, P2C_WRITE, readPassphrase } from '../crypto/keystore.js';
import {
  ECDH_CURVES,
  KEY_ENCRYPTION_ALGS,
  SIGNATURE_ALGS,
  type EcdhCurve,
  type KeyEncryptionAlg,
  type SignatureAlg,
} from '../crypto/profile.js';
import { PartyId } from '../domain/common.js';
import { AccordError } from '../errors.js';
import { PASSPHRASE_ENV } from './envelope.js';
import { EXIT_OK, EXIT_USAGE, reportError } from './exit.js';
import { registerKeysLifecycle } from './keys-lifecycle.js';

/** The passphrase for writing an encrypted key file: `--passphrase-file`, else $ACCORD_KEY_PASSPHRASE. */
function passphraseFor(file: string | undefined): string {
  const passphrase = readPassphrase(
    file === undefined ? { passphraseEnv: PASSPHRASE_ENV } : { passphraseFile: file },
    process.env,
  );
  if (passphrase === undefined || passphrase === '') {
    throw new AccordError('keys.invalid', `no passphrase: set ${PASSPHRASE_ENV} or give --passphrase-file`);
  }
  return passphrase;
}

/** Write a file that must not exist yet (unless `force`); `keys.invalid` when it does. */
function writeNew(file: string, content: string, mode: number, force: boolean): void {
  try {
    writeFileSync(file, content, { mode, flag: force ? 'w' : 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new AccordError('keys.invalid', `${file} already exists (use --force to replace it)`);
    }
    throw err;
  }
}

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('key lifecycle (JWK Set files)');
  keys
    .command('generate')
    .description(
      'write a private and a public JWK Set: one signing key and one encryption key (default ES256 and ECDH-ES+A256KW on P-256)',
    )
    .requiredOption('--party <party>', 'CZ or KZ')
    .requiredOption('--out <dir>', 'directory for private.jwks.json (or .jwe) and public.jwks.json')
    .addOption(new Option('--sig <alg>', 'signature algorithm').choices(SIGNATURE_ALGS).default('ES256'))
    .addOption(
      new Option('--enc <alg>', 'key-encryption algorithm')
        .choices(KEY_ENCRYPTION_ALGS)
        .default('ECDH-ES+A256KW'),
    )
    .addOption(
      new Option('--crv <curve>', 'curve of an ECDH-ES+A256KW key (default P-256)').choices(ECDH_CURVES),
    )
    .option(
      '--encrypt',
      `encrypt the private set with a passphrase (from $${PASSPHRASE_ENV} or --passphrase-file)`,
    )
    .option('--passphrase-file <file>', 'file holding the passphrase (mode 600)')
    .option('--force', 'overwrite existing files')
    .action(
      async (opts: {
        party: string;
        out: string;
        sig: SignatureAlg;
        enc: KeyEncryptionAlg;
        crv?: EcdhCurve;
        encrypt?: boolean;
        passphraseFile?: string;
        force?: boolean;
      }) => {
        const party = PartyId.safeParse(opts.party);
        if (!party.success) {
          process.stderr.write('schema.invalid: --party must be CZ or KZ\n');
          process.exitCode = EXIT_USAGE;
          return;
        }
        if (opts.crv !== undefined && opts.enc !== 'ECDH-ES+A256KW') {
          process.stderr.write('schema.invalid: --crv applies to --enc ECDH-ES+A256KW only\n');
          process.exitCode = EXIT_USAGE;
          return;
        }
        try {
          // Asked before the (slow) key generation, so a missing passphrase fails at once.
          const passphrase = opts.encrypt ? passphraseFor(opts.passphraseFile) : undefined;
          const { privateSet, publicSet } = await generatePartyKeys(party.data, {
            sig: opts.sig,
            enc: opts.enc,
            ...(opts.crv === undefined ? {} : { crv: opts.crv }),
          });
          mkdirSync(opts.out, { recursive: true });
          const force = opts.force ?? false;
          const privateFile = join(
            opts.out,
            passphrase === undefined ? 'private.jwks.json' : 'private.jwks.jwe',
          );
          const publicFile = join(opts.out, 'public.jwks.json');
          // Both checked before either is written, so a refusal never leaves a half-replaced pair.
          for (const f of force ? [] : [privateFile, publicFile]) {
            if (existsSync(f))
              throw new AccordError('keys.invalid', `${f} already exists (use --force to replace it)`);
          }
          const privateText =
            passphrase === undefined
              ? `${JSON.stringify(privateSet, null, 2)}\n`
              : `${await encryptJwks(privateSet, passphrase)}\n`;
          // The private set is readable by its owner only.
          writeNew(privateFile, privateText, 0o600, force);
          writeNew(publicFile, `${JSON.stringify(publicSet, null, 2)}\n`, 0o644, force);
          for (const k of publicSet.keys) {
            const crv = k.kty === 'EC' ? k.crv : `RSA-${Buffer.from(k.n, 'base64url').length * 8}`;
            process.stdout.write(
              `${k.use}  ${k.alg.padEnd(15)} ${crv.padEnd(8)} kid ${k.kid}  thumbprint ${thumbprint(k)}\n`,
            );
          }
          process.stdout.write(
            `wrote ${privateFile} (mode 600${passphrase === undefined ? '' : `, encrypted with ${JWKS_KEY_ALG}`}) and public.jwks.json\n`,
          );
          process.exitCode = EXIT_OK;
        } catch (err) {
          process.exitCode = reportError(err);
        }
      },
    );

  keys
    .command('encrypt')
    .description(
      `encrypt a private JWK Set with a passphrase (${JWKS_KEY_ALG}, A256GCM, ${P2C_WRITE} PBKDF2 iterations)`,
    )
    .requiredOption('--in <file>', 'the plain private JWK Set')
    .requiredOption('--out <file>', 'the encrypted file to write (mode 600)')
    .option('--passphrase-file <file>', `file holding the passphrase (default: $${PASSPHRASE_ENV})`)
    .option('--force', 'overwrite an existing --out file')
    .action(async (opts: { in: string; out: string; passphraseFile?: string; force?: boolean }) => {
      try {
        if (isEncryptedJwks(readKeyFile(opts.in))) {
          throw new AccordError('keys.invalid', `${opts.in} is already encrypted`);
        }
        const passphrase = passphraseFor(opts.passphraseFile);
        // Checked strictly first: only a valid private set is worth protecting.
        const set = readPrivateJwks(opts.in);
        writeNew(opts.out, `${await encryptJwks(set, passphrase)}\n`, 0o600, opts.force ?? false);
        process.stdout.write(
          `wrote ${opts.out} (mode 600, ${set.keys.length} keys); remove the plain ${opts.in} once the gateway uses it\n`,
        );
        process.exitCode = EXIT_OK;
      } catch (err) {
        process.exitCode = reportError(err);
      }
    });

  registerKeysLifecycle(keys);
}
