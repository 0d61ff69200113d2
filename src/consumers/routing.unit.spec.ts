import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../errors.js';
import { TypeRouter } from './routing.js';

describe('TypeRouter', () => {
  it('routes handled types to their handler, before any ignore pattern', () => {
    const router = new TypeRouter(['OrderPlaced', 'AuditWritten'], ['Audit*']);
    assert.equal(router.route('OrderPlaced'), 'handle');
    assert.equal(router.route('AuditWritten'), 'handle');
  });

  it('ignores exact names, * patterns and regular expressions', () => {
    const router = new TypeRouter([], ['Ping', 'Audit*', '*.v0', /^internal\./g]);
    assert.equal(router.route('Ping'), 'ignore');
    assert.equal(router.route('AuditLogged'), 'ignore');
    assert.equal(router.route('Order.v0'), 'ignore');
    assert.equal(router.route('internal.x'), 'ignore');
    assert.equal(router.route('internal.x'), 'ignore'); // a global RegExp gives the same answer twice
    assert.equal(router.route('Pings'), 'unknown');
    assert.equal(router.route('Order.v01'), 'unknown');
  });

  it('treats pattern characters other than * literally', () => {
    const router = new TypeRouter([], ['a.b*']);
    assert.equal(router.route('a.bc'), 'ignore');
    assert.equal(router.route('axbc'), 'unknown');
  });

  it('calls everything else unknown', () => {
    assert.equal(new TypeRouter(['A']).route('B'), 'unknown');
  });

  it('refuses a pattern that is neither a string nor a RegExp', () => {
    assert.throws(() => new TypeRouter([], [42 as unknown as string]), ConfigError);
    assert.throws(() => new TypeRouter([], ['']), /is not a type name/);
  });
});
