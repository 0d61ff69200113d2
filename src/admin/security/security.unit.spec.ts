import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../errors.js';
import { hashPassword, parsePasswordHash, verifyPassword } from './passwords.js';
import { LoginLimiter } from './rate-limit.js';
import { csrfMatches, SessionStore } from './sessions.js';

describe('admin security pieces', () => {
  it('hash passwords with scrypt and a salt, and verify them', async () => {
    const hash = await hashPassword('correct horse battery', { cost: 1024 });
    assert.match(hash, /^scrypt\$1024\$8\$1\$/);
    assert.notEqual(hash, await hashPassword('correct horse battery', { cost: 1024 }), 'salted');
    const parsed = parsePasswordHash(hash, 'alice');
    assert.equal(await verifyPassword('correct horse battery', parsed), true);
    assert.equal(await verifyPassword('correct horse batterY', parsed), false);
    await assert.rejects(hashPassword('short'), /8 to 1024/);
    assert.throws(() => parsePasswordHash('plaintext', 'bob'), ConfigError);
    assert.throws(() => parsePasswordHash(hash.replace('$1024$', '$1000$'), 'bob'), ConfigError);
  });

  it('expire sessions when idle or too old, and keep at most the configured number', () => {
    const store = new SessionStore({ idleMs: 100, absoluteMs: 1000, max: 2 });
    const a = store.create({ name: 'a', role: 'viewer' }, 0);
    assert.equal(store.get(a.id, 90)?.user, 'a');
    assert.equal(store.get(a.id, 180)?.user, 'a', 'used at 90: alive at 180');
    assert.equal(store.get(a.id, 290), undefined, 'idle for 110');
    const b = store.create(null, 0);
    for (let t = 90; t < 1000; t += 90) assert.ok(store.get(b.id, t));
    assert.equal(store.get(b.id, 1001), undefined, 'older than the absolute limit');
    const [c, d, e] = [store.create(null, 2000), store.create(null, 2000), store.create(null, 2000)];
    assert.equal(store.get(c.id, 2001), undefined, 'the least recently used went first');
    assert.ok(store.get(d.id, 2001) && store.get(e.id, 2001));
    assert.equal(store.get('../../etc', 2001), undefined);
    assert.ok(csrfMatches(d, d.csrf));
    assert.ok(!csrfMatches(d, e.csrf) && !csrfMatches(d, undefined) && !csrfMatches(undefined, d.csrf) && !csrfMatches(d, d.csrf.slice(1)));
  });

  it('limit failed logins per user name and (more loosely) per address, for a window', () => {
    const limiter = new LoginLimiter(3, 1000);
    for (let i = 0; i < 3; i++) limiter.failed('10.0.0.1', 'Alice', 0);
    assert.ok(limiter.blockedFor('10.0.0.9', 'alice', 10) > 0, 'the name, from anywhere, any case');
    assert.equal(limiter.blockedFor('10.0.0.1', 'bob', 10), 0, 'the address allows more');
    assert.equal(limiter.blockedFor('10.0.0.9', 'alice', 1001), 0, 'until the window ends');
    for (let i = 0; i < 12; i++) limiter.failed('10.0.0.2', `user${i}`, 2000);
    assert.ok(limiter.blockedFor('10.0.0.2', 'someone', 2010) > 0, 'a spray from one address');
  });
});
