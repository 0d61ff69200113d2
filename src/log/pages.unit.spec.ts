import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type pg from 'pg';
import { LogPages } from './pages.js';

/** A stand-in for the pool: a log of `size` events; counts reads; answers when `release()` is called. */
function fakeLog(size: number) {
  const reads: { after: number; limit: number }[] = [];
  let pending: (() => void)[] = [];
  const pool = {
    query: (_text: string, [after, limit]: [number, number]) => {
      reads.push({ after, limit });
      const rows: Record<string, unknown>[] = [];
      for (let n = after + 1; n <= Math.min(size, after + limit); n++) {
        rows.push({ event_number: n, event_id: `id-${n}`, stream_id: 's', stream_version: n, event_type: 'T', data: { n }, metadata: {}, causation_id: null, correlation_id: null, created_at: new Date(0) });
      }
      return new Promise((resolve) => pending.push(() => resolve({ rows })));
    },
  };
  return {
    pool: pool as unknown as pg.Pool,
    reads,
    grow: (to: number) => void (size = to),
    release: () => {
      const waiting = pending;
      pending = [];
      for (const answer of waiting) answer();
    },
  };
}

describe('LogPages', () => {
  it('answers readers of the same page at once with one query, each with its own event objects', async () => {
    const log = fakeLog(3);
    const pages = new LogPages(log.pool, '"ctx"');
    const a = pages.read(0, 10, 3);
    const b = pages.read(0, 10, 3);
    log.release();
    const [ea, eb] = await Promise.all([a, b]);
    assert.equal(log.reads.length, 1);
    assert.deepEqual(ea.map((e) => e.metadata.eventNumber), [1, 2, 3]);
    assert.notEqual(ea[0], eb[0]);
    assert.deepEqual(ea, eb);
  });

  it('keeps full pages for late-comers, forgets short ones once read', async () => {
    const log = fakeLog(15);
    const pages = new LogPages(log.pool, '"ctx"');
    const first = pages.read(0, 10, 15);
    log.release();
    await first;
    const again = await pages.read(0, 10, 15);
    assert.equal(log.reads.length, 1, 'a full page never changes');
    assert.equal(again.length, 10);
    const short = pages.read(10, 10, 15);
    log.release();
    assert.equal((await short).length, 5);
    log.grow(20);
    const later = pages.read(10, 10, 20);
    log.release();
    assert.equal((await later).length, 10, 'a short page is read again');
    assert.equal(log.reads.length, 3);
  });

  it('does not hand a reader who knows a newer head a page read in flight for an older one', async () => {
    const log = fakeLog(2);
    const pages = new LogPages(log.pool, '"ctx"');
    const old = pages.read(0, 10, 2);
    log.grow(4);
    const fresh = pages.read(0, 10, 4);
    log.release();
    assert.equal((await old).length, 2);
    assert.equal((await fresh).length, 4);
    assert.equal(log.reads.length, 2);
  });

  it('reads again after a failed read', async () => {
    let fail = true;
    const pool = {
      query: async () => {
        if (fail) {
          fail = false;
          throw new Error('connection lost');
        }
        return { rows: [] };
      },
    } as unknown as pg.Pool;
    const pages = new LogPages(pool, '"ctx"');
    await assert.rejects(pages.read(0, 10, 0), /connection lost/);
    assert.deepEqual(await pages.read(0, 10, 0), []);
  });
});
