/**
 * Fault points: named moments inside a transfer where the chaos suite (scripts/chaos) can stop a
 * gateway — kill it on the spot, or hold it there while it kills the broker — so that the moments that
 * matter most for exactly-once are hit on purpose, not by luck (docs/reliability.md, "Fault points").
 *
 * Inert unless `ACCORD_FAULTS_DIR` names a folder, and refused with `NODE_ENV=production`
 * (start-checks.ts). The suite arms a process by writing `<pid>.arm` there, one JSON line
 * `{"point": …, "action": "kill" | "hold", "minMembers": n}`; the first time the process reaches that
 * point in a transfer of at least `minMembers` members it removes the file, writes `<pid>.hit` (the
 * point and the member count) and then dies with SIGKILL, or waits until `<pid>.release` appears.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

/** Where a transfer can be stopped. */
export const FAULT_POINTS = [
  /** Sender: the transfer is stored in Redis, not yet published. */
  'transfer-send:stored',
  /** Sender: the transfer is published and confirmed, its members not yet marked sent. */
  'transfer-send:published',
  /** Receiver: about half of the members have reached their commit (their claims taken), none committed. */
  'transfer-intake:members',
  /** Receiver: the transfer is committed and its members' claims marked, its receipts not yet sent. */
  'transfer-intake:committed',
] as const;
export type FaultPoint = (typeof FAULT_POINTS)[number];

const Arm = z
  .object({
    point: z.enum(FAULT_POINTS),
    action: z.enum(['kill', 'hold']),
    minMembers: z.number().int().min(1).max(10_000).default(1),
  })
  .strict();
export type FaultArm = z.input<typeof Arm>;

/** The environment variable that turns fault points on (docs/configuration.md). */
export const FAULTS_ENV = 'ACCORD_FAULTS_DIR';

const HOLD_POLL_MS = 100;
const HOLD_MAX_MS = 120_000;

/** Files of one process in a fault folder. */
export function faultFiles(dir: string, pid: number) {
  return {
    arm: join(dir, `${pid}.arm`),
    hit: join(dir, `${pid}.hit`),
    release: join(dir, `${pid}.release`),
  };
}

const dir = process.env[FAULTS_ENV];

/**
 * Reach a fault point in a transfer of `members` members: nothing happens unless this process is armed
 * for it. Costs one `existsSync` per call when fault points are on, nothing otherwise.
 */
export async function faultPoint(point: FaultPoint, members: number): Promise<void> {
  if (dir === undefined || dir === '') return;
  const files = faultFiles(dir, process.pid);
  if (!existsSync(files.arm)) return;
  let arm: z.output<typeof Arm>;
  try {
    arm = Arm.parse(JSON.parse(readFileSync(files.arm, 'utf8')));
  } catch {
    return; // half written, or not ours: looked at again next time
  }
  if (arm.point !== point || members < arm.minMembers) return;
  rmSync(files.arm, { force: true });
  writeFileSync(files.hit, JSON.stringify({ point, members, action: arm.action }));
  if (arm.action === 'kill') {
    process.kill(process.pid, 'SIGKILL');
    await new Promise(() => undefined); // SIGKILL is not deferred, but nothing may run on meanwhile
  }
  for (const by = Date.now() + HOLD_MAX_MS; Date.now() < by && !existsSync(files.release);) {
    await new Promise((r) => setTimeout(r, HOLD_POLL_MS));
  }
  rmSync(files.release, { force: true });
}
