import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { channelOf, decodeNotification, PAYLOADS } from './notifications.js';

describe('notifications', () => {
  it('decodes every payload it sends', () => {
    for (const [kind, payload] of Object.entries(PAYLOADS)) assert.deepEqual(decodeNotification(payload), { kind });
    assert.equal(new Set(Object.values(PAYLOADS)).size, Object.keys(PAYLOADS).length, 'payloads are distinct');
  });

  it('decodes an operator control request (pause, resume, reset)', () => {
    assert.equal(PAYLOADS['control-requested'], 'o');
    assert.deepEqual(decodeNotification('o'), { kind: 'control-requested' });
  });

  it("decodes the sequencer's s<head>", () => {
    assert.deepEqual(decodeNotification('s42'), { kind: 'sequenced', head: 42 });
    assert.deepEqual(decodeNotification('s0'), { kind: 'unknown' });
    assert.deepEqual(decodeNotification('sx'), { kind: 'unknown' });
  });

  it('calls anything else unknown', () => {
    assert.deepEqual(decodeNotification(''), { kind: 'unknown' });
    assert.deepEqual(decodeNotification('z'), { kind: 'unknown' });
  });

  it('names the channel after the context', () => {
    assert.equal(channelOf('orders'), 'herald_orders');
  });
});
