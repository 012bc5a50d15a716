/**
 * `accord keys list | export | import-peer | rotate | activate | revoke`: the key lifecycle
 * over the key files and `key-state.json`. Registered from keys.ts. Every change is followed by a
 * notice to running gateways over Redis, so none needs a restart.
 */
import { writeFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { z } from 'zod';
import { loadConfig, names, type Config } from '../config.js';
import { operatorName, recordForGateway } from '../audit/handoff.js';
import { AccordError } from '../errors.js';
import {
  activateKey,
  approveKey,
  exportPublic,
  importPeer,
  listKeys,
  notifyGateways,
  prunedKeys,
  resolveKey,
  revokeKey,
  rotateKey,
  whatRevokingStops,
} from '../keys/operations.js';
import { EXIT_OK, reportError } from './exit.js';

const out = (line: string) => process.stdout.write(`${line}\n`);

/** Run an action with the checked config; errors become `code: message` and the exit code. */
async function withConfig(file: string, run: (config: Config) => Promise<void>): Promise<void> {
  try {
    await run(loadConfig(file));
    process.exitCode = EXIT_OK;
  } catch (err) {
    process.exitCode = reportError(err);
  }
}

/** Tell running gateways; a gateway that is not running picks the change up when it starts. */
async function notify(config: Config): Promise<void> {
  const n = await notifyGateways(config);
  out(`told ${n} running gateway(s) to reload their keys`);
}

const Instant = z.iso.datetime({ offset: true });
const Reason = z.string().min(1).max(500);
const Kid = z.string().min(1).max(128);
const Thumbprint = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'an RFC 7638 SHA-256 thumbprint');

function checked<T>(schema: z.ZodType<T>, value: unknown, path: string): T {
  const r = schema.safeParse(value);
  if (!r.success)
    throw new AccordError('schema.invalid', `--${path}: ${r.error.issues[0]?.message}`, { path });
  return r.data;
}

/** Art. 10(6): every key operation goes into the gateway's audit log. */
async function record(config: Config, what: string): Promise<void> {
  await recordForGateway(config, names(config.namespace).redisPrefix, {
    type: 'key-operation',
    reason: what.slice(0, 500),
    decidedBy: `accord keys (${operatorName()})`,
  });
}

export function registerKeysLifecycle(keys: Command): void {
  keys
    .command('list')
    .description('own and peer keys: kid, use, alg, state, dates and RFC 7638 thumbprint')
    .requiredOption('--config <file>', 'the gateway config')
    .option(
      '--json',
      'print {keys, pruned} as one JSON object (no key material: ids, states, dates, thumbprints)',
    )
    .action((opts: { config: string; json?: boolean }) =>
      withConfig(opts.config, async (config) => {
        if (opts.json === true) {
          out(JSON.stringify({ keys: await listKeys(config), pruned: await prunedKeys(config) }));
          return;
        }
        for (const k of await listKeys(config)) {
          out(
            [
              k.owner.padEnd(4),
              k.use,
              k.alg.padEnd(15),
              k.state.padEnd(8),
              `kid ${k.kid}`,
              `nbf ${k.nbf ?? '-'}`,
              `exp ${k.exp ?? '-'}`,
              ...(k.retireAt ? [`retireAt ${k.retireAt}`] : []),
              `thumbprint ${k.thumbprint}`,
              ...(k.announcedBy ? [`announcedBy ${k.announcedBy}`] : []),
              ...(k.reason && (k.state === 'held' || k.state === 'revoked') ? [`(${k.reason})`] : []),
            ].join('  '),
          );
        }
        // Keys no longer in a set: their thumbprints are kept so they are never trusted again.
        for (const p of await prunedKeys(config)) {
          out(
            [
              p.owner.padEnd(4),
              p.use,
              '(pruned)'.padEnd(15),
              p.state.padEnd(8),
              `kid ${p.kid}`,
              `prunedAt ${p.prunedAt}`,
              `thumbprint ${p.thumbprint}`,
            ].join('  '),
          );
        }
      }),
    );

  keys
    .command('export')
    .description('write the own public JWK Set, and print its thumbprints to read to the peer out of band')
    .requiredOption('--config <file>', 'the gateway config')
    .requiredOption('--out <file>', 'the public JWK Set file to write')
    .action((opts: { config: string; out: string }) =>
      withConfig(opts.config, async (config) => {
        const { set, thumbprints } = await exportPublic(config);
        writeFileSync(opts.out, `${JSON.stringify(set, null, 2)}\n`, { mode: 0o644 });
        for (const t of thumbprints)
          out(`${t.use}  ${t.alg.padEnd(15)} kid ${t.kid}  thumbprint ${t.thumbprint}`);
        out(`wrote ${opts.out} (${set.keys.length} public keys)`);
      }),
    );

  keys
    .command('import-peer')
    .argument('<file>', "the peer's public JWK Set")
    .description("pin the peer's public JWK Set, only if its thumbprints are exactly the ones confirmed")
    .requiredOption('--config <file>', 'the gateway config')
    .option(
      '--expect-thumbprint <thumbprint>',
      'an RFC 7638 thumbprint confirmed with the peer out of band (repeat for each key)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .action((file: string, opts: { config: string; expectThumbprint: string[] }) =>
      withConfig(opts.config, async (config) => {
        const lines = await importPeer(config, file, opts.expectThumbprint, new Date());
        for (const t of lines) out(`pinned ${t.use} kid ${t.kid}  thumbprint ${t.thumbprint}`);
        await record(
          config,
          `import-peer ${lines.map((t) => `${t.use}:${t.kid}:${t.thumbprint}`).join(' ')}`,
        );
        await notify(config);
      }),
    );

  keys
    .command('rotate')
    .description('create the next key of a use; it signs (sig) or is announced (enc) once activated')
    .requiredOption('--config <file>', 'the gateway config')
    .addOption(new Option('--use <use>', 'which key').choices(['sig', 'enc']).makeOptionMandatory())
    .option('--activate-at <instant>', 'ISO 8601 instant at which the new key takes over by itself')
    .option('--valid-days <days>', 'validity of the new key, in days (sets its exp)')
    .action((opts: { config: string; use: 'sig' | 'enc'; activateAt?: string; validDays?: string }) =>
      withConfig(opts.config, async (config) => {
        const activateAt =
          opts.activateAt === undefined
            ? undefined
            : new Date(checked(Instant, opts.activateAt, 'activate-at'));
        const validDays =
          opts.validDays === undefined
            ? undefined
            : checked(z.coerce.number().int().min(1).max(3650), opts.validDays, 'valid-days');
        const { key, thumbprint } = await rotateKey(config, opts.use, {
          now: new Date(),
          activateAt,
          validDays,
        });
        await record(config, `rotate ${key.use} next kid ${key.kid} thumbprint ${thumbprint}`);
        out(`next ${key.use} key ${key.kid}  thumbprint ${thumbprint}`);
        out(
          activateAt
            ? `it takes over at ${activateAt.toISOString()}`
            : `export the public set, confirm the thumbprint with the peer, then: accord keys activate ${key.kid}`,
        );
        await notify(config);
      }),
    );

  keys
    .command('activate')
    .argument('<kid>', 'the own key to make active')
    .description('make a next key active now; the key it replaces keeps verifying for keys.overlapHours')
    .requiredOption('--config <file>', 'the gateway config')
    .action((kid: string, opts: { config: string }) =>
      withConfig(opts.config, async (config) => {
        await activateKey(config, checked(Kid, kid, 'kid'), new Date());
        await record(config, `activate kid ${kid}`);
        out(`${kid} is active`);
        await notify(config);
      }),
    );

  keys
    .command('approve')
    .description(
      'approve a peer key pinned from an announcement (held) by its thumbprint, confirmed with the peer out of band',
    )
    .requiredOption('--config <file>', 'the gateway config')
    .requiredOption('--thumbprint <thumbprint>', 'the RFC 7638 thumbprint read back with the peer')
    .action((opts: { config: string; thumbprint: string }) =>
      withConfig(opts.config, async (config) => {
        const tp = checked(Thumbprint, opts.thumbprint, 'thumbprint');
        const { kid, use, was } = await approveKey(config, tp, new Date());
        await record(config, `approve peer ${use} kid ${kid} thumbprint ${tp} (was ${was})`);
        out(
          was === 'held'
            ? `approved peer ${use} key ${kid}: active now; the peer's other ${use} keys retire after keys.overlapHours`
            : `approved peer ${use} key ${kid} (${was}): its trust no longer rests on the key that announced it`,
        );
        await notify(config);
      }),
    );

  keys
    .command('revoke')
    .argument('[kid]', 'the own or peer key to revoke (or name it with --thumbprint)')
    .description('revoke a key: from now on it neither signs nor is accepted (crypto.key_revoked)')
    .requiredOption('--config <file>', 'the gateway config')
    .requiredOption('--reason <text>', 'why (kept in key-state.json; no personal data)')
    .option('--thumbprint <thumbprint>', 'name the key by its RFC 7638 thumbprint (accord keys list)')
    .option('--force', 'revoke even the last usable key of its side and use (says what stops working)')
    .addOption(new Option('--own', 'the kid is one of this gateway’s own keys').conflicts('peer'))
    .addOption(new Option('--peer', 'the kid is a pinned key of the peer').conflicts('own'))
    .action(
      (
        kid: string | undefined,
        opts: {
          config: string;
          reason: string;
          thumbprint?: string;
          own?: boolean;
          peer?: boolean;
          force?: boolean;
        },
      ) =>
        withConfig(opts.config, async (config) => {
          const reason = checked(Reason, opts.reason, 'reason');
          const ref = {
            kid: kid === undefined ? undefined : checked(Kid, kid, 'kid'),
            thumbprint:
              opts.thumbprint === undefined ? undefined : checked(Thumbprint, opts.thumbprint, 'thumbprint'),
            owner: opts.own ? ('own' as const) : opts.peer ? ('peer' as const) : undefined,
          };
          const now = new Date();
          const target = await resolveKey(config, ref).catch(() => undefined);
          const stops = target && (await whatRevokingStops(config, target, now));
          // A pruned peer key (no longer in the set) is found by revokeKey among the pruned ones.
          const done = await revokeKey(
            config,
            target ? { kid: target.key.kid, owner: target.owner } : ref,
            reason,
            now,
            {
              force: opts.force,
            },
          );
          const use = target?.key.use ?? 'pruned';
          await record(config, `revoke ${done.owner} ${use} kid ${done.kid}: ${reason}`);
          out(
            `revoked ${done.owner} key ${done.kid} (${done.owner === 'own' ? 'this gateway’s own' : 'the peer’s pinned'} ${use} key)`,
          );
          if (done.held.length > 0) {
            await record(config, `held peer keys announced by revoked ${done.kid}: ${done.held.join(' ')}`);
            out(
              `held ${done.held.join(', ')}: announced by ${done.kid} (or by a key it announced); they verify nothing until approved by thumbprint (accord keys approve) or revoked`,
            );
          }
          if (stops !== undefined) {
            out(`WARNING: that was the last usable ${done.owner} ${use} key: ${stops}`);
          }
          await notify(config);
        }),
    );
}
