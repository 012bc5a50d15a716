/**
 * The Merkle tree of a transfer (wire version 2, docs/protocol.md "Transfers"): one signature over
 * the root stands for every member, and each member keeps evidence that verifies on its own — the
 * signed root, its index and the hashes of its audit path — as RFC 6962 (Certificate Transparency)
 * defines them: a leaf is SHA-256(0x00 ‖ bytes), an inner node SHA-256(0x01 ‖ left ‖ right), and a
 * tree of n leaves splits at the largest power of two below n. The prefixes keep a leaf from passing
 * for an inner node (second pre-image).
 */
import { createHash } from 'node:crypto';

const LEAF = Buffer.from([0]);
const NODE = Buffer.from([1]);

/** The hash of one member's bytes as a leaf. */
export function leafHash(bytes: Buffer): Buffer {
  return createHash('sha256').update(LEAF).update(bytes).digest();
}

function nodeHash(left: Buffer, right: Buffer): Buffer {
  return createHash('sha256').update(NODE).update(left).update(right).digest();
}

/** The largest power of two strictly below n (n ≥ 2). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** The root over the leaf hashes, in order (RFC 6962 §2.1). At least one leaf. */
export function merkleRoot(leaves: readonly Buffer[]): Buffer {
  if (leaves.length === 0) throw new Error('a Merkle tree needs a leaf');
  if (leaves.length === 1) return leaves[0]!;
  const k = split(leaves.length);
  return nodeHash(merkleRoot(leaves.slice(0, k)), merkleRoot(leaves.slice(k)));
}

/** The audit path of leaf `index` (RFC 6962 §2.1.1): the sibling hashes from the leaf up. */
export function auditPath(leaves: readonly Buffer[], index: number): Buffer[] {
  if (index < 0 || index >= leaves.length) throw new Error('no such leaf');
  if (leaves.length === 1) return [];
  const k = split(leaves.length);
  return index < k
    ? [...auditPath(leaves.slice(0, k), index), merkleRoot(leaves.slice(k))]
    : [...auditPath(leaves.slice(k), index - k), merkleRoot(leaves.slice(0, k))];
}

/** The audit paths of every leaf, computing each subtree once (a transfer's receiver needs them all). */
export function auditPaths(leaves: readonly Buffer[]): Buffer[][] {
  const paths: Buffer[][] = leaves.map(() => []);
  const walk = (lo: number, hi: number): Buffer => {
    if (hi - lo === 1) return leaves[lo]!;
    const mid = lo + split(hi - lo);
    const left = walk(lo, mid);
    const right = walk(mid, hi);
    for (let i = lo; i < mid; i++) paths[i]!.push(right);
    for (let i = mid; i < hi; i++) paths[i]!.push(left);
    return nodeHash(left, right);
  };
  walk(0, leaves.length);
  return paths;
}

/**
 * Whether `leaf` is leaf `index` of a tree of `size` leaves with root `root`, by its audit path
 * (RFC 9162 §2.1.3.2): what anyone holding one member's evidence checks, without the other members.
 */
export function verifyInclusion(
  leaf: Buffer,
  index: number,
  size: number,
  path: readonly Buffer[],
  root: Buffer,
): boolean {
  if (!Number.isInteger(index) || !Number.isInteger(size) || index < 0 || index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn === 0 && r.equals(root);
}
