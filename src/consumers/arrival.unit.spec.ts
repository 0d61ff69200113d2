import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decideArrival, decideGap, startingPoint, type OrderingRules } from './arrival.js';

const inOrder: OrderingRules = { ordering: 'stream', startFrom: 'origin' };
const fromArrival: OrderingRules = { ordering: 'stream', startFrom: 'arrival' };
const at = (version: number, blockedVersion: number | null = null) => ({ version, blockedVersion });

describe('decideArrival', () => {
  it('handles the next version of a stream', () => {
    assert.deepEqual(decideArrival(at(0), 1, 'broker', inOrder), { kind: 'handle' });
    assert.deepEqual(decideArrival(at(4), 5, 'held', inOrder), { kind: 'handle' });
  });

  it('drops a version already handled, whatever its origin', () => {
    for (const origin of ['broker', 'held', 'blocking', 'forced'] as const) {
      assert.deepEqual(decideArrival(at(5), 5, origin, inOrder), { kind: 'duplicate', why: 'handled' });
      assert.deepEqual(decideArrival(at(5), 2, origin, inOrder), { kind: 'duplicate', why: 'handled' });
    }
  });

  it('holds a version ahead of the next one, naming the missing range', () => {
    assert.deepEqual(decideArrival(at(1), 4, 'broker', inOrder), { kind: 'hold', missing: { from: 2, to: 3 } });
    assert.deepEqual(decideArrival(at(0), 2, 'held', inOrder), { kind: 'hold', missing: { from: 1, to: 1 } });
  });

  it('holds everything behind a blocking failure, even the next version', () => {
    assert.deepEqual(decideArrival(at(3, 4), 5, 'broker', inOrder), { kind: 'hold', missing: null });
    assert.deepEqual(decideArrival(at(3, 4), 9, 'held', inOrder), { kind: 'hold', missing: null });
  });

  it('treats the blocking version from the broker as a redelivery, and handles it as a due retry', () => {
    assert.deepEqual(decideArrival(at(3, 4), 4, 'broker', inOrder), { kind: 'duplicate', why: 'redelivery-of-blocked' });
    assert.deepEqual(decideArrival(at(3, 4), 4, 'held', inOrder), { kind: 'duplicate', why: 'redelivery-of-blocked' });
    assert.deepEqual(decideArrival(at(3, 4), 4, 'blocking', inOrder), { kind: 'handle' });
  });

  it('a forced retry accepts a gap but never handles a version twice', () => {
    assert.deepEqual(decideArrival(at(1), 7, 'forced', inOrder), { kind: 'handle' });
    assert.deepEqual(decideArrival(at(1, 7), 7, 'forced', inOrder), { kind: 'handle' });
    assert.deepEqual(decideArrival(at(7), 7, 'forced', inOrder), { kind: 'duplicate', why: 'handled' });
  });

  it('a forced retry never jumps an earlier version that failed and waits for its retry', () => {
    // v3 failed (scheduled) after v4 was parked for the gap: retrying v4 now would lose v3.
    assert.deepEqual(decideArrival(at(2, 3), 4, 'forced', inOrder), { kind: 'hold', missing: null });
  });

  it('a version below the blocking one is still handled in turn (it arrived late)', () => {
    assert.deepEqual(decideArrival(at(1, 5), 2, 'broker', inOrder), { kind: 'handle' });
    assert.deepEqual(decideArrival(at(1, 5), 3, 'broker', inOrder), { kind: 'hold', missing: { from: 2, to: 2 } });
  });

  it("with ordering 'none' handles everything as it comes (the inbox drops duplicates)", () => {
    const none: OrderingRules = { ordering: 'none', startFrom: 'origin' };
    assert.deepEqual(decideArrival(at(5, 6), 3, 'broker', none), { kind: 'handle' });
    assert.deepEqual(decideArrival(at(0), 9, 'broker', none), { kind: 'handle' });
  });

  it("with startFrom 'arrival' a new stream starts at the first version that arrives", () => {
    assert.deepEqual(decideArrival(at(0), 42, 'broker', fromArrival), { kind: 'handle' });
    assert.deepEqual(startingPoint(at(0), 42, fromArrival), at(41));
    // Once the stream has a position, gaps are gaps again.
    assert.deepEqual(decideArrival(at(42), 44, 'broker', fromArrival), { kind: 'hold', missing: { from: 43, to: 43 } });
    // A stream with a failure stored is not new.
    assert.deepEqual(startingPoint(at(0, 3), 5, fromArrival), at(0, 3));
  });
});

describe('decideGap', () => {
  it('is ready when the held version is next', () => {
    assert.deepEqual(decideGap(at(3), 4, 0, 1000), { kind: 'ready' });
    assert.deepEqual(decideGap(at(5), 4, 0, 1000), { kind: 'ready' }); // stale: handled meanwhile
  });

  it('waits for the missing versions until reorderWaitMs passed, then parks naming them', () => {
    assert.deepEqual(decideGap(at(3), 6, 999, 1000), { kind: 'wait' });
    assert.deepEqual(decideGap(at(3), 6, 1000, 1000), { kind: 'park', reason: 'stream version 4…5 did not arrive within 1000 ms' });
    assert.deepEqual(decideGap(at(3), 5, 5000, 1000), { kind: 'park', reason: 'stream version 4 did not arrive within 1000 ms' });
  });

  it('never parks behind a blocking failure: the held message waits for it', () => {
    assert.deepEqual(decideGap(at(3, 4), 6, 60_000, 1000), { kind: 'wait' });
  });
});
