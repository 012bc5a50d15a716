import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FAULTS_ENV, faultFiles } from '../src/faults.js';
import { noFaultPoints } from '../src/start-checks.js';
import type { Config } from '../src/config.js';
import { tempDir } from './helpers/temp.js';

// The chaos suite's fault points (src/faults.ts): a process armed for a point stops there — killed,
// or held until released — and only there, and never with NODE_ENV=production.
const FAULTS = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'faults.js');

/** A child that reaches `point` in a transfer of `members`, prints `past` after it, and exits. */
function reach(dir: string, point: string, members: number, before?: (pid: number) => void) {
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const f = await import(${JSON.stringify(FAULTS)});
       process.stdout.write('ready\\n');
       await new Promise((r) => process.stdin.once('data', r));
       await f.faultPoint(${JSON.stringify(point)}, ${members});
       process.stdout.write('past\\n');
       process.exit(0);`,
    ],
    { env: { ...process.env, [FAULTS_ENV]: dir }, stdio: ['pipe', 'pipe', 'inherit'] },
  );
  let out = '';
  const exited = new Promise<{ code: number | null; signal: string | null; out: string }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, out })),
  );
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (out === 'ready\n') {
      before?.(child.pid!);
      child.stdin.write('go\n');
    }
  });
  return { child, exited };
}

describe('fault points (chaos suite)', () => {
  it('kills the armed process at its point, once the transfer has the members asked for, and says so', async () => {
    const dir = tempDir('faults');
    const { exited } = reach(dir, 'transfer-intake:members', 5, (pid) =>
      writeFileSync(
        faultFiles(dir, pid).arm,
        JSON.stringify({ point: 'transfer-intake:members', action: 'kill', minMembers: 2 }),
      ),
    );
    const { signal, out } = await exited;
    expect(signal).to.equal('SIGKILL');
    expect(out).to.not.include('past');
  });

  it('passes a point it is not armed for, and a transfer smaller than asked, untouched', async () => {
    const dir = tempDir('faults');
    let pid = 0;
    const other = reach(dir, 'transfer-send:stored', 5, (p) => {
      pid = p;
      writeFileSync(
        faultFiles(dir, p).arm,
        JSON.stringify({ point: 'transfer-send:published', action: 'kill' }),
      );
    });
    const r1 = await other.exited;
    expect(r1.code).to.equal(0);
    expect(r1.out).to.include('past');
    expect(existsSync(faultFiles(dir, pid).arm), 'still armed for its own point').to.equal(true);

    const small = reach(dir, 'transfer-send:stored', 1, (p) =>
      writeFileSync(
        faultFiles(dir, p).arm,
        JSON.stringify({ point: 'transfer-send:stored', action: 'kill', minMembers: 2 }),
      ),
    );
    const r2 = await small.exited;
    expect(r2.code).to.equal(0);
    expect(r2.out).to.include('past');
  });

  it('holds the armed process at its point until released, and writes what it hit', async () => {
    const dir = tempDir('faults');
    let pid = 0;
    const { exited } = reach(dir, 'transfer-send:published', 3, (p) => {
      pid = p;
      writeFileSync(
        faultFiles(dir, p).arm,
        JSON.stringify({ point: 'transfer-send:published', action: 'hold' }),
      );
    });
    const files = () => faultFiles(dir, pid);
    for (let i = 0; i < 100 && (pid === 0 || !existsSync(files().hit)); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(JSON.parse(readFileSync(files().hit, 'utf8'))).to.deep.equal({
      point: 'transfer-send:published',
      members: 3,
      action: 'hold',
    });
    expect(existsSync(files().arm), 'disarmed once hit').to.equal(false);
    await new Promise((r) => setTimeout(r, 300));
    expect((await Promise.race([exited, Promise.resolve(undefined)])) ?? 'held').to.equal('held');
    writeFileSync(files().release, '');
    const { code, out } = await exited;
    expect(code).to.equal(0);
    expect(out).to.include('past');
  });

  it('is refused with NODE_ENV=production, with the variable named', () => {
    const config = {} as Config;
    const problems = noFaultPoints(config, { NODE_ENV: 'production', [FAULTS_ENV]: '/tmp/x' });
    expect(problems.map((p) => [p.code, p.message])).to.deep.equal([
      [
        'config.invalid',
        `${FAULTS_ENV} turns on the chaos suite's fault points and is refused with NODE_ENV=production`,
      ],
    ]);
    expect(noFaultPoints(config, { [FAULTS_ENV]: '/tmp/x' })).to.deep.equal([]);
    expect(noFaultPoints(config, { NODE_ENV: 'production' })).to.deep.equal([]);
  });
});
