/**
 * `npm run vectors`: (re)seal the protocol test vectors of test/vectors/protocol/ from its fixed,
 * test-only keys (generated on the first run, or with --new-keys), at the fixed instant SEALED_AT,
 * and write manifest.json beside them. Ids and timestamps are fixed; ECDH-ES ephemeral keys, IVs and
 * ECDSA signatures are not (JOSE randomises them), so each run writes other bytes with the same
 * meaning: the checked-in files are the reference, this script is how they were made.
 */
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatePartyKeys, publicHalf } from '../src/crypto/keygen.js';
import { readPrivateJwks, readPublicJwks } from '../src/crypto/jwk.js';
import { KeyRing } from '../src/crypto/keyring.js';
import { VECTOR_CLASSES, type VectorContext } from '../src/conformance/classes.js';
import { sealerFor } from '../src/conformance/craft.js';
import type { Manifest } from '../src/conformance/manifest.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DIR = join(ROOT, 'test', 'vectors', 'protocol');
/** The instant every vector is sealed at; the vector test runs the receiver on a clock just after it. */
export const SEALED_AT = Date.parse('2026-01-01T00:00:00.000Z');
/** The receiver's size limit the oversize vector is made for (the test gateway is configured so). */
const MAX_MESSAGE_BYTES = 64 * 1024;

const SENDER = { party: 'CZ', authority: 'cz-pp-ipc' } as const;
const RECEIVER = { party: 'KZ', authority: 'kz-mia' } as const;

const KEYS = {
  senderPrivate: 'keys/sender.private.jwks.json',
  senderPublic: 'keys/sender.public.jwks.json',
  receiverPrivate: 'keys/receiver.private.jwks.json',
  receiverPublic: 'keys/receiver.public.jwks.json',
  unpinned: 'keys/unpinned.private.jwks.json',
  announced: 'keys/announced.public.jwks.json',
};

/** A UUID (version 8, RFC 9562) that is the same for the same name. */
function fixedId(name: string): string {
  const h = createHash('sha256').update(`accord-protocol-vector/${name}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x80;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

function write(rel: string, data: string): void {
  mkdirSync(dirname(join(DIR, rel)), { recursive: true });
  writeFileSync(join(DIR, rel), data);
}

async function makeKeys(): Promise<void> {
  // Made "a day before" SEALED_AT, so that no key is younger than the vectors it signs.
  const at = new Date(SEALED_AT - 86_400_000);
  const sender = await generatePartyKeys('vector-sender', {}, at);
  const receiver = await generatePartyKeys('vector-receiver', {}, at);
  const unpinned = await generatePartyKeys('vector-unpinned', {}, at);
  const announced = await generatePartyKeys('vector-announced', {}, at);
  const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;
  write(KEYS.senderPrivate, json(sender.privateSet));
  write(KEYS.senderPublic, json(sender.publicSet));
  write(KEYS.receiverPrivate, json(receiver.privateSet));
  write(KEYS.receiverPublic, json(receiver.publicSet));
  write(KEYS.unpinned, json({ keys: unpinned.privateSet.keys.filter((k) => k.use === 'sig') }));
  write(
    KEYS.announced,
    json({ keys: announced.privateSet.keys.filter((k) => k.use === 'sig').map(publicHalf) }),
  );
}

async function main(): Promise<void> {
  if (process.argv.includes('--new-keys') || !existsSync(join(DIR, KEYS.senderPrivate))) await makeKeys();
  const ring = await KeyRing.fromSets(
    readPrivateJwks(join(DIR, KEYS.senderPrivate)),
    readPublicJwks(join(DIR, KEYS.receiverPublic)),
  );
  const ctx: VectorContext = {
    nowMs: SEALED_AT,
    from: SENDER,
    to: RECEIVER,
    ownDirectory: [
      {
        id: 'cz-pp-ipc',
        name: 'Police Presidium of the Czech Republic, International Police Cooperation Division',
      },
      { id: 'cz-ndh', name: 'National Drug Headquarters of the Criminal Police and Investigation Service' },
    ],
    sealer: sealerFor(ring),
    idFor: fixedId,
    unpinnedSigningKey: readPrivateJwks(join(DIR, KEYS.unpinned)).keys[0]!,
    announcedKey: readPublicJwks(join(DIR, KEYS.announced)).keys[0]!,
    maxMessageBytes: MAX_MESSAGE_BYTES,
  };
  for (const f of existsSync(DIR) ? readdirSync(DIR) : []) if (f.endsWith('.jwe')) rmSync(join(DIR, f));
  const vectors: Manifest['vectors'] = [];
  for (const c of VECTOR_CLASSES) {
    const built = c.build(ctx);
    const file = built ? `${c.name}.jwe` : null;
    if (built) write(file!, built.copies[0]!);
    vectors.push({
      name: c.name,
      file,
      class: c.name,
      kind: c.kind,
      id: built?.id ?? null,
      route: built?.route ?? 'ingress',
      copies: built?.copies.length ?? 1,
      expect: c.expect,
      requirements: [...new Set(c.requirements)],
      description: c.description,
      ...(c.precondition ? { precondition: c.precondition } : {}),
    });
  }
  const manifest: Manifest = {
    note: 'Protocol test vectors (docs/protocol.md, "Test vectors"). TEST ONLY: the keys in keys/ are public, made for these vectors, and must never be used by a gateway outside tests.',
    sealedAt: new Date(SEALED_AT).toISOString(),
    generator: 'npm run vectors (scripts/gen-protocol-vectors.ts); --new-keys makes new keys',
    sender: {
      address: SENDER,
      privateJwks: KEYS.senderPrivate,
      publicJwks: KEYS.senderPublic,
      unpinnedPrivateJwks: KEYS.unpinned,
      announcedPublicJwks: KEYS.announced,
    },
    receiver: {
      address: RECEIVER,
      privateJwks: KEYS.receiverPrivate,
      publicJwks: KEYS.receiverPublic,
      maxMessageBytes: MAX_MESSAGE_BYTES,
    },
    vectors,
  };
  write('manifest.json', `${JSON.stringify(manifest, null, 2)}\n`);
  console.log(`${vectors.length} vectors written to ${DIR}`);
}

await main();
