import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './helpers/harness.js';

// `npm run demo` is the main job: it must keep working, and keep showing what DESIGN §4 promises.
describe('npm run demo', () => {
  it('plays the treaty scenario and exits 0', async function () {
    this.timeout(90_000);
    const { stdout } = await promisify(execFile)('node', [join(ROOT, 'dist', 'src', 'demo', 'main.js')], {
      cwd: ROOT,
    });
    expect(stdout).to.include('signed receipt from KZ, status delivered');
    expect(stdout).to.include('document N12345678 (passport, KZ): stolen-blank');
    expect(stdout).to.include('rejected before sealing');
    expect(stdout).to.match(/got the signed refusal notice .* \(Art\. 9\(5\)\)/);
    expect(stdout).to.include('flagged sensitive: nationality');
    expect(stdout).to.include('blocked: policy.onward_transfer_blocked at body.travelDocuments.0.number');
    expect(stdout).to.match(
      /7\. CZ cz-pp-ipc destroys the reply's personal data before KZ's deadline \(\d{4}-/,
    );
    expect(stdout).to.match(/destruction of message \S+ \(no-longer-needed\) is recorded/);
    expect(stdout).to.match(
      /CZ records \(Art\. 10\(6\)\): chain intact, \d+ records, [1-9]\d* about the reply/,
    );
    expect(stdout).to.match(/KZ records \(Art\. 10\(6\)\): chain intact/);
    expect(stdout).to.include(', 0 dead letters.');
  });
});
