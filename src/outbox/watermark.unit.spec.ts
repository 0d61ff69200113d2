import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Watermark } from './watermark.js';

describe('Watermark', () => {
  it('settles the sequence value at once when no transaction writes the table', () => {
    const w = new Watermark();
    assert.equal(w.observe(null, []), 0, 'nothing handed out yet');
    assert.equal(w.observe(10, []), 10);
    assert.equal(w.waiting, false);
  });

  it('waits until every writer seen with a value has ended, whatever writers come later', () => {
    const w = new Watermark();
    assert.equal(w.observe(10, ['3/1', '4/7']), 0);
    assert.equal(w.waiting, true);
    assert.deepEqual(w.blockers().sort(), ['3/1', '4/7']);
    assert.equal(w.observe(12, ['4/7', '5/2']), 0, '4/7 may hold an id ≤ 10');
    assert.deepEqual(w.blockers(), ['4/7']);
    assert.equal(w.observe(15, ['5/2', '6/9']), 10, '10 is settled; 12 waits for 5/2');
    assert.equal(w.observe(15, ['6/9']), 12, '12 settled; 15 still waits for 6/9');
    assert.equal(w.observe(15, ['7/1']), 15, "7/1 came after 15 was read: it is not waited for");
    assert.equal(w.waiting, false);
  });

  it('a long transaction holds back every later value until it ends, then all settle at once', () => {
    const w = new Watermark();
    w.observe(5, []);
    for (let s = 6; s < 30; s++) assert.equal(w.observe(s, ['long', `short-${s}`]), 5);
    assert.deepEqual(w.blockers(), ['long']);
    assert.equal(w.observe(30, ['other']), 29);
    assert.equal(w.observe(30, []), 30);
  });

  it('tells how long its next step has waited', () => {
    const w = new Watermark();
    assert.equal(w.waitedMs(100), 0);
    w.observe(5, ['a'], 100);
    w.observe(6, ['a', 'b'], 150);
    assert.equal(w.waitedMs(400), 300);
    w.observe(6, ['b'], 420);
    assert.equal(w.waitedMs(500), 350, 'now 6 waits, since 150');
  });

  it('keeps a bounded number of pending values and still settles the newest', () => {
    const w = new Watermark();
    for (let s = 1; s <= Watermark.MAX_PENDING * 3; s++) w.observe(s, ['long']);
    assert.equal(w.observe(Watermark.MAX_PENDING * 3, []), Watermark.MAX_PENDING * 3);
  });

  it('never moves back: a resumed checkpoint raises it, a lower one does not lower it', () => {
    const w = new Watermark();
    w.raise(40);
    assert.equal(w.observe(35, []), 40);
    w.raise(20);
    assert.equal(w.settled, 40);
  });
});
