/**
 * The manifest of the protocol test vectors (test/vectors/protocol/manifest.json): which sealed
 * message each file is, with which keys, and what a conforming receiver does with it. Written by
 * scripts/gen-protocol-vectors.ts, read (and checked with this schema) by the tests.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { AccordError } from '../errors.js';
import { Expectation } from './classes.js';

const Address = z.strictObject({ party: z.enum(['CZ', 'KZ']), authority: z.string().min(1).max(63) });
const FileName = z
  .string()
  .regex(/^[a-z0-9-]+(\/[a-z0-9.-]+)?\.(jwe|json)$/, 'a file name under the vectors folder');

/** One vector: a sealed message (or, for a class with a precondition, none) and its outcome. */
export const ManifestVector = z.strictObject({
  name: z.string().regex(/^[a-z0-9-]+$/),
  /** The sealed message, relative to the manifest; null when a test must seal it (`precondition`). */
  file: FileName.nullable(),
  /** The vector class (src/conformance/classes.ts) it was made by. */
  class: z.string().min(1),
  kind: z.string().min(1),
  /** The envelope id a receipt answers and a dead letter names. */
  id: z.uuid().nullable(),
  /** `ingress`: published with the ingress's routing key; `heartbeat`: with the heartbeat key. */
  route: z.enum(['ingress', 'heartbeat']),
  /** How many times the same bytes are published (2 for a replay). */
  copies: z.int().min(1).max(2),
  expect: Expectation,
  requirements: z.array(z.string().regex(/^P-[A-Z]+-[0-9]+$/)).min(1),
  description: z.string().min(1),
  precondition: z.enum(['sent-a-message', 'dedup-record-lost']).optional(),
});
export type ManifestVector = z.infer<typeof ManifestVector>;

/** test/vectors/protocol/manifest.json: the keys, the sealing instant and every vector. */
export const Manifest = z.strictObject({
  /** What these files are; says the keys are test-only. */
  note: z.string(),
  /** The `createdAt` of every valid vector; the receiver's clock must be shortly after it. */
  sealedAt: z.iso.datetime({ offset: true }),
  /** How to regenerate them. */
  generator: z.string(),
  sender: z.strictObject({
    address: Address,
    privateJwks: FileName,
    publicJwks: FileName,
    /** A signing key the receiver has not pinned (the unknown-kid vector). */
    unpinnedPrivateJwks: FileName,
    /** The public signing key the key-announcement vector announces. */
    announcedPublicJwks: FileName,
  }),
  receiver: z.strictObject({
    address: Address,
    privateJwks: FileName,
    publicJwks: FileName,
    /** The receiver's `crypto.maxMessageBytes` the oversize vector is made for. */
    maxMessageBytes: z.int().min(1024),
  }),
  vectors: z.array(ManifestVector).min(1),
});
export type Manifest = z.infer<typeof Manifest>;

/** Read and check a manifest; `schema.invalid` lists every `path: message`. */
export function readManifest(dir: string): Manifest {
  const file = join(dir, 'manifest.json');
  const parsed = Manifest.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new AccordError('schema.invalid', `${file}: ${issues.join('; ')}`);
  }
  return parsed.data;
}
