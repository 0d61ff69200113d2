import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Cached } from './cached.js';

describe('Cached', () => {
  it('reads once for concurrent callers, keeps the value for ttlMs, then reads again', async () => {
    let now = 1000;
    let reads = 0;
    let release!: () => void;
    const cached = new Cached(async () => {
      reads++;
      await new Promise<void>((resolve) => (release = resolve));
      return reads;
    }, 500, () => now);
    const first = [cached.get(), cached.get(), cached.get()];
    release();
    assert.deepEqual(await Promise.all(first), [1, 1, 1]);
    now += 499;
    assert.equal(await cached.get(), 1);
    now += 1;
    const second = cached.get();
    release();
    assert.equal(await second, 2);
    assert.equal(reads, 2);
  });

  it('does not keep a failure, and clear() forgets the value', async () => {
    let fail = true;
    let reads = 0;
    const cached = new Cached(async () => {
      reads++;
      if (fail) throw new Error('database down');
      return 'ok';
    }, 60_000);
    await assert.rejects(cached.get(), /database down/);
    fail = false;
    assert.equal(await cached.get(), 'ok');
    assert.equal(await cached.get(), 'ok');
    cached.clear();
    assert.equal(await cached.get(), 'ok');
    assert.equal(reads, 3);
  });
});
