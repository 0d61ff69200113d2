import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toJsonValue } from '../../src/events/json.js';
import { uuidv7 } from '../../src/events/uuid.js';

describe('toJsonValue', () => {
  it('keeps plain JSON values as they are', () => {
    const value = { a: 1, b: 'x', c: [true, null, 2.5, { d: [] }], 'weird key': -0.125 };
    assert.deepEqual(toJsonValue(value), { ok: true, value });
  });

  it('omits undefined object properties, as JSON.stringify does', () => {
    assert.deepEqual(toJsonValue({ a: 1, b: undefined }), { ok: true, value: { a: 1 } });
  });

  it('stores a Date as its ISO string', () => {
    const at = new Date('2026-01-02T03:04:05.678Z');
    assert.deepEqual(toJsonValue({ at }), { ok: true, value: { at: '2026-01-02T03:04:05.678Z' } });
  });

  const refused: [string, unknown, string, RegExp][] = [
    ['bigint', { n: 10n }, 'n', /bigint/],
    ['NaN', { list: [1, NaN] }, 'list[1]', /finite/],
    ['Infinity', { x: { y: Infinity } }, 'x.y', /finite/],
    ['undefined in an array', [1, undefined], '[1]', /undefined/],
    ['undefined at the root', undefined, '', /undefined/],
    ['a function', { f: () => 1 }, 'f', /function/],
    ['a Map', { m: new Map() }, 'm', /Map/],
    ['a Set', { 's-et': new Set() }, '["s-et"]', /Set/],
    ['a NUL character', { s: 'a\u0000b' }, 's', /\\u0000/],
    ['a lone surrogate', { s: 'a\uD800' }, 's', /surrogate/],
  ];
  for (const [what, value, path, reason] of refused) {
    it(`refuses ${what} and names the path`, () => {
      const result = toJsonValue(value);
      assert.equal(result.ok, false);
      if (result.ok) return;
      assert.equal(result.problem.path, path);
      assert.match(result.problem.reason, reason);
    });
  }

  it('refuses cycles but accepts the same object twice side by side', () => {
    const shared = { k: 1 };
    assert.deepEqual(toJsonValue({ a: shared, b: shared }), { ok: true, value: { a: { k: 1 }, b: { k: 1 } } });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const result = toJsonValue(cyclic);
    assert.equal(result.ok, false);
    if (!result.ok) assert.match(result.problem.reason, /circular/);
  });

  it('keeps well-formed surrogate pairs (emoji)', () => {
    assert.deepEqual(toJsonValue('🎉'), { ok: true, value: '🎉' });
  });
});

describe('uuidv7', () => {
  it('is a version 7, RFC variant UUID carrying the millisecond timestamp', () => {
    const id = uuidv7(0x0190_1234_5678);
    assert.match(id, /^01901234-5678-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
  it('sorts by creation time and does not repeat', () => {
    const ids = [uuidv7(1000), uuidv7(2000), uuidv7(3000)];
    assert.deepEqual([...ids].sort(), ids);
    assert.equal(new Set(Array.from({ length: 10_000 }, () => uuidv7())).size, 10_000);
  });
});
