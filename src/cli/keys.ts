/** `accord keys …`: the key lifecycle, as standard JWK Set files. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { generatePartyKeys, thumbprint } from '../crypto/keygen.js';
import { PartyId } from '../domain/common.js';
import { EXIT_USAGE } from './exit.js';

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('key lifecycle (JWK Set files)');
  keys
    .command('generate')
    .description(
      'write a private and a public JWK Set: one ES256 signing key, one ECDH-ES+A256KW encryption key',
    )
    .requiredOption('--party <party>', 'CZ or KZ')
    .requiredOption('--out <dir>', 'directory for private.jwks.json and public.jwks.json')
    .option('--force', 'overwrite existing files')
    .action(async (opts: { party: string; out: string; force?: boolean }) => {
      const party = PartyId.safeParse(opts.party);
      if (!party.success) {
        process.stderr.write('schema.invalid: --party must be CZ or KZ\n');
        process.exitCode = EXIT_USAGE;
        return;
      }
      const { privateSet, publicSet } = await generatePartyKeys(party.data);
      mkdirSync(opts.out, { recursive: true });
      const flag = opts.force ? 'w' : 'wx';
      try {
        // The private set is readable by its owner only.
        writeFileSync(join(opts.out, 'private.jwks.json'), `${JSON.stringify(privateSet, null, 2)}\n`, {
          mode: 0o600,
          flag,
        });
        writeFileSync(join(opts.out, 'public.jwks.json'), `${JSON.stringify(publicSet, null, 2)}\n`, {
          mode: 0o644,
          flag,
        });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
          process.stderr.write(
            `keys.invalid: key files already exist in ${opts.out} (use --force to replace them)\n`,
          );
          process.exitCode = EXIT_USAGE;
          return;
        }
        throw err;
      }
      for (const k of publicSet.keys) {
        process.stdout.write(`${k.use}  ${k.alg.padEnd(15)} kid ${k.kid}  thumbprint ${thumbprint(k)}\n`);
      }
      process.stdout.write(`wrote ${join(opts.out, 'private.jwks.json')} (mode 600) and public.jwks.json\n`);
    });
}
