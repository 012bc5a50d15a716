/**
 * What an administrator reads without a broker: the log line format, and the list of environment
 * variables in docs/configuration.md against what the code reads.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { NoAnswerError } from '../../src/client/index.js';
import { ENVIRONMENT } from '../../src/environment.js';
import { createLogger } from '../../src/log.js';

/** The repository root (this file runs from dist/test/unit). */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Every .ts file under `dir`. */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

describe('operability', () => {
  it('logs the level by name and the time in ISO 8601', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    createLogger({ level: 'info' }, sink).warn({ code: 'infra.unavailable' }, 'something waits');
    const line = JSON.parse(lines[0]!) as { level: unknown; time: unknown; code: unknown };
    expect(line.level).to.equal('warn');
    expect(line.time)
      .to.be.a('string')
      .and.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(line.code).to.equal('infra.unavailable');
  });

  it('lists in docs/configuration.md every environment variable the code and the shipped configs read', () => {
    const read = new Set<string>();
    const files = [
      ...sources(join(ROOT, 'src')),
      ...sources(join(ROOT, 'scripts')),
      join(ROOT, 'config', 'cz.json'),
      join(ROOT, 'config', 'kz.json'),
    ];
    for (const file of files) {
      for (const m of readFileSync(file, 'utf8').matchAll(/\b(ACCORD_[A-Z0-9_]+|NODE_ENV)\b/g))
        read.add(m[1]!);
    }
    const listed = new Set(ENVIRONMENT.map((v) => v.name));
    expect([...read].filter((name) => !listed.has(name)).sort(), 'read but not listed').to.deep.equal([]);
    const doc = readFileSync(join(ROOT, 'docs', 'configuration.md'), 'utf8');
    for (const name of listed) expect(doc, name).to.contain(`| \`${name}\` |`);
  });

  it('npm test stops at once with the command to run when the browser is missing and it cannot install it', function () {
    // As root it would install the browser; the case to show is a user who cannot.
    const asRoot = process.getuid?.() === 0;
    const cmd = asRoot ? 'runuser' : 'bash';
    const args = asRoot
      ? ['-u', 'nobody', '--', 'bash', 'scripts/ensure-chromium.sh']
      : ['scripts/ensure-chromium.sh'];
    const r = spawnSync(cmd, args, {
      cwd: ROOT,
      env: { ...process.env, ACCORD_CHROMIUM: '/nonexistent/chromium' },
      encoding: 'utf8',
    });
    if (r.error) return this.skip(); // no runuser on this machine
    expect(r.status).to.equal(1);
    expect(r.stderr).to.contain('sudo apt-get install chromium');
  });

  it('tells a case system that timed out waiting that its submission is still queued, and why', () => {
    const e = new NoAnswerError('4b7e0f0e-8f5e-4a43-9c1e-7f7e1b1c2d3e', 5000);
    expect(e.code).to.equal('infra.unavailable');
    expect(e.message).to.contain('may still be queued in the outbox').and.to.contain('peer’s broker');
    expect(e.message).to.contain('accord trace 4b7e0f0e-8f5e-4a43-9c1e-7f7e1b1c2d3e');
    expect(e.messageId).to.equal('4b7e0f0e-8f5e-4a43-9c1e-7f7e1b1c2d3e');
  });
});
