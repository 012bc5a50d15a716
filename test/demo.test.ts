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
    expect(stdout).to.include(', 0 dead letters.');
  });
});
