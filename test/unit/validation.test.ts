import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as v from 'valibot';
import { z } from 'zod';
import { defineEvent, InvalidArgumentError, InvalidEventPayloadError, InvalidIdentifierError } from '../../src/index.js';
import { encodeExpectedVersion } from '../../src/log/expected-version.js';
import { validateStreamId } from '../../src/log/append.js';
import { quoteIdent, validateSqlName, validateSubscriptionName } from '../../src/sql/identifiers.js';

describe('expected version encoding', () => {
  it('maps the named and numeric forms', () => {
    assert.equal(encodeExpectedVersion('any'), -1);
    assert.equal(encodeExpectedVersion('streamExists'), -2);
    assert.equal(encodeExpectedVersion('noStream'), 0);
    assert.equal(encodeExpectedVersion(7), 7);
  });
  for (const bad of [-1, 1.5, Number.NaN, 'some', null]) {
    it(`rejects ${String(bad)}`, () => {
      assert.throws(() => encodeExpectedVersion(bad as never), InvalidArgumentError);
    });
  }
});

describe('identifiers', () => {
  it('accepts plain schema names and quotes them', () => {
    assert.equal(validateSqlName('context', 'orders_2'), 'orders_2');
    assert.equal(quoteIdent('orders'), '"orders"');
    assert.equal(quoteIdent('a"b'), '"a""b"');
  });
  for (const bad of ['', 'Orders', '2orders', 'orders;drop', 'a b', 'pg_catalog', 'x'.repeat(64), 42]) {
    it(`rejects schema name ${JSON.stringify(bad)}`, () => {
      assert.throws(() => validateSqlName('context', bad), (e: unknown) => e instanceof InvalidIdentifierError && e.code === 'HERALD_INVALID_IDENTIFIER');
    });
  }
  it('accepts and rejects subscription names', () => {
    assert.equal(validateSubscriptionName('inventory.reserve-stock/v2'), 'inventory.reserve-stock/v2');
    assert.throws(() => validateSubscriptionName(' spaced'), InvalidIdentifierError);
    assert.throws(() => validateSubscriptionName(''), InvalidIdentifierError);
  });
  it('rejects empty and NUL stream ids', () => {
    assert.throws(() => validateStreamId(''), InvalidArgumentError);
    assert.throws(() => validateStreamId('a\u0000'), InvalidArgumentError);
    assert.equal(validateStreamId('order-1'), 'order-1');
  });
});

describe('defineEvent', () => {
  const schemas = {
    zod: z.object({ orderId: z.string(), lines: z.array(z.object({ qty: z.number().int().positive() })) }),
    valibot: v.object({ orderId: v.string(), lines: v.array(v.object({ qty: v.pipe(v.number(), v.integer(), v.minValue(1)) })) }),
  };
  for (const [vendor, schema] of Object.entries(schemas)) {
    it(`validates with ${vendor} and names the failing path`, async () => {
      const OrderPlaced = defineEvent('OrderPlaced', schema);
      assert.deepEqual(await OrderPlaced.validate({ orderId: 'o1', lines: [{ qty: 1 }] }), { orderId: 'o1', lines: [{ qty: 1 }] });
      await assert.rejects(OrderPlaced.validate({ orderId: 'o1', lines: [{ qty: 1 }, { qty: 0 }] }), (e: unknown) => {
        assert.ok(e instanceof InvalidEventPayloadError);
        assert.equal(e.eventType, 'OrderPlaced');
        assert.equal(e.issues[0]?.path, 'lines[1].qty');
        assert.match(e.message, /OrderPlaced.*lines\[1\]\.qty/);
        return true;
      });
    });
  }
  it('creates events that carry type, data and options, and narrows with is()', () => {
    const Shipped = defineEvent('Shipped', z.object({ at: z.string() }));
    const event = Shipped.create({ at: 'now' }, { correlationId: 'c-1' });
    assert.deepEqual({ ...event }, { type: 'Shipped', data: { at: 'now' }, correlationId: 'c-1' });
    assert.equal(Shipped.is({ type: 'Shipped' }), true);
    assert.equal(Shipped.is({ type: 'Other' }), false);
  });
  it('refuses a schema that is not a Standard Schema', () => {
    assert.throws(() => defineEvent('X', {} as never), /Standard Schema/);
  });
});
