/** The admission gate in front of a consumer's handlers (src/transport/gate.ts): pure logic. */
import { expect } from 'chai';
import { PriorityGate } from '../src/transport/gate.js';

/** A handler that runs until released, recording when it started. */
function held(started: string[], name: string) {
  let release!: () => void;
  const done = new Promise<void>((r) => (release = r));
  return {
    work: async () => {
      started.push(name);
      await done;
      return name;
    },
    release,
  };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('PriorityGate', () => {
  it('runs at most `limit` at once and admits the rest in arrival order', async () => {
    const gate = new PriorityGate(2);
    const started: string[] = [];
    const hs = ['a', 'b', 'c', 'd'].map((n) => held(started, n));
    const results = hs.map((h) => gate.run(false, h.work));
    await tick();
    expect(started).to.deep.equal(['a', 'b']);
    expect(gate.load).to.deep.equal({ running: 2, waiting: 2 });
    hs[1]!.release();
    await tick();
    expect(started).to.deep.equal(['a', 'b', 'c']);
    hs[0]!.release();
    hs[2]!.release();
    hs[3]!.release();
    expect(await Promise.all(results)).to.deep.equal(['a', 'b', 'c', 'd']);
    expect(gate.load).to.deep.equal({ running: 0, waiting: 0 });
  });

  it('never keeps an urgent one waiting, and gives its extra slot back before admitting others', async () => {
    const gate = new PriorityGate(1);
    const started: string[] = [];
    const bulk1 = held(started, 'bulk1');
    const bulk2 = held(started, 'bulk2');
    const urgent = held(started, 'urgent');
    const runs = [gate.run(false, bulk1.work), gate.run(false, bulk2.work)];
    await tick();
    runs.push(gate.run(true, urgent.work));
    await tick();
    expect(started).to.deep.equal(['bulk1', 'urgent']);
    expect(gate.load).to.deep.equal({ running: 2, waiting: 1 });
    // The first to finish frees the urgent one's extra slot: still one running, bulk2 still waits.
    bulk1.release();
    await tick();
    expect(started).to.deep.equal(['bulk1', 'urgent']);
    expect(gate.load).to.deep.equal({ running: 1, waiting: 1 });
    urgent.release();
    await tick();
    expect(started).to.deep.equal(['bulk1', 'urgent', 'bulk2']);
    bulk2.release();
    await Promise.all(runs);
    expect(gate.load).to.deep.equal({ running: 0, waiting: 0 });
  });

  it('frees the slot of a handler that throws', async () => {
    const gate = new PriorityGate(1);
    const failed = gate.run(false, () => Promise.reject(new Error('boom')));
    const next = gate.run(false, () => Promise.resolve('next'));
    const err = await failed.then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).to.equal('boom');
    expect(await next).to.equal('next');
    expect(gate.load).to.deep.equal({ running: 0, waiting: 0 });
  });
});
