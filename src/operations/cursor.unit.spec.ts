import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../errors.js';
import { decodeCursor, encodeCursor, MAX_CURSOR_LENGTH, pageSize } from './cursor.js';
import { date, filterWhere, storedFilter, validateFilter } from './filter.js';

const SHAPE = { id: /^[1-9]\d{0,18}$/ };

describe('page cursors', () => {
  it('round-trip a position for the same query', () => {
    const cursor = encodeCursor({ type: 'A' }, { id: '42' });
    assert.match(cursor, /^[A-Za-z0-9_-]+$/);
    assert.deepEqual(decodeCursor(cursor, { type: 'A' }, SHAPE), { id: '42' });
  });

  it('refuse a cursor of another query, an edited one, garbage and oversize ones', () => {
    const cursor = encodeCursor({ type: 'A' }, { id: '42' });
    assert.throws(() => decodeCursor(cursor, { type: 'B' }, SHAPE), /another query/);
    const edited = Buffer.from(JSON.stringify({ q: JSON.parse(Buffer.from(cursor, 'base64url').toString()).q, p: { id: "1' OR 1=1" } })).toString('base64url');
    assert.throws(() => decodeCursor(edited, { type: 'A' }, SHAPE), InvalidArgumentError);
    const extra = Buffer.from(JSON.stringify({ q: JSON.parse(Buffer.from(cursor, 'base64url').toString()).q, p: { id: '1', x: '2' } })).toString('base64url');
    assert.throws(() => decodeCursor(extra, { type: 'A' }, SHAPE), InvalidArgumentError);
    for (const bad of ['', 'not base64!', 'e30', 'bnVsbA', 'a'.repeat(MAX_CURSOR_LENGTH + 1), 42]) assert.throws(() => decodeCursor(bad, { type: 'A' }, SHAPE), InvalidArgumentError);
  });

  it('take a longer cursor only where the caller allows one (positions holding long text)', () => {
    const shape = { key: /^[\s\S]{1,500}$/ };
    const cursor = encodeCursor({ sagas: 1 }, { key: 'k'.repeat(500) });
    assert.ok(cursor.length > MAX_CURSOR_LENGTH);
    assert.throws(() => decodeCursor(cursor, { sagas: 1 }, shape), InvalidArgumentError);
    assert.deepEqual(decodeCursor(cursor, { sagas: 1 }, shape, 2000), { key: 'k'.repeat(500) });
    assert.throws(() => decodeCursor('a'.repeat(2001), { sagas: 1 }, shape, 2000), InvalidArgumentError);
  });

  it('take page sizes from 1 to the cap only', () => {
    assert.equal(pageSize(undefined, 50, 200), 50);
    assert.equal(pageSize(200, 50, 200), 200);
    for (const bad of [0, -1, 201, 1.5, '10', Number.NaN]) assert.throws(() => pageSize(bad, 50, 200), /limit/);
  });
});

describe('failure filters', () => {
  it('validate fields and build parameterised SQL from constant column names', () => {
    const filter = validateFilter({ owner: 'billing.charge', fingerprint: null, since: '2024-05-01T00:00Z', eventType: "x' OR '1'='1" });
    const where = filterWhere('events', filter, ['parked', 'scheduled'], 3);
    assert.equal(where.sql, 'subscription = $3 AND event_type = $4 AND status = ANY($5) AND parked_at >= $6 AND fingerprint IS NULL');
    assert.deepEqual(where.values.slice(0, 2), ['billing.charge', "x' OR '1'='1"]);
    assert.equal(filterWhere('messages', { owner: 'billing' }, ['parked']).sql, 'consumer = $1 AND status = ANY($2)');
    assert.deepEqual(storedFilter(filter), { owner: 'billing.charge', fingerprint: null, eventType: "x' OR '1'='1", since: '2024-05-01T00:00:00.000Z' });
  });

  it('refuse unknown fields, bad names, fingerprints and dates', () => {
    assert.throws(() => validateFilter({ where: '1=1' }), /unknown field/);
    assert.throws(() => validateFilter({ owner: "x' --" }), /subscription name/);
    assert.throws(() => validateFilter({ fingerprint: 'abc' }), /fingerprint/);
    assert.throws(() => validateFilter({ since: 'yesterday' }), /since/);
    assert.throws(() => validateFilter([]), /object/);
    assert.equal(date('d', '2024-05-01T12:00').toISOString(), '2024-05-01T12:00:00.000Z', 'no zone: UTC');
    assert.equal(date('d', '2024-05-01T12:00+02:00').toISOString(), '2024-05-01T10:00:00.000Z');
  });
});
