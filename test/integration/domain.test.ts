/**
 * Repositories on a real log: state change and events in one transaction, optimistic concurrency
 * under concurrent commands, causation and correlation carried, payloads still validated.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import { AggregateRoot, type AnyEvent, aggregateRepository, deciderRepository, type Decider } from '../../src/domain/index.js';
import { createHerald, defineEvent, type Herald, InvalidEventPayloadError, type NewEvent, WrongExpectedVersionError } from '../../src/index.js';
import { createPool, dropContext, uniqueContext } from '../helpers/db.js';

const Deposited = defineEvent('Deposited', z.object({ amount: z.number().positive() }));
const Withdrawn = defineEvent('Withdrawn', z.object({ amount: z.number().positive() }));

class Account extends AggregateRoot {
  balance = 0;
  deposit(amount: number) {
    this.raise(Deposited.create({ amount }));
  }
  withdraw(amount: number) {
    if (amount > this.balance) throw new Error(`insufficient funds: ${this.balance} < ${amount}`);
    this.raise(Withdrawn.create({ amount }));
  }
  protected apply(event: AnyEvent) {
    if (event.type === 'Deposited') this.balance += (event.data as { amount: number }).amount;
    if (event.type === 'Withdrawn') this.balance -= (event.data as { amount: number }).amount;
  }
}

type Stock = { onHand: number };
type StockCommand = { type: 'receive'; qty: number } | { type: 'reserve'; qty: number };
const stock: Decider<StockCommand, Stock, NewEvent> = {
  initialState: { onHand: 0 },
  decide(command, state) {
    if (command.type === 'receive') return { type: 'Received', data: { qty: command.qty } };
    if (command.qty > state.onHand) throw new Error(`only ${state.onHand} on hand`);
    return { type: 'Reserved', data: { qty: command.qty } };
  },
  evolve(state, event) {
    const qty = (event.data as { qty: number }).qty;
    return { onHand: state.onHand + (event.type === 'Received' ? qty : -qty) };
  },
};

describe('repositories', () => {
  const pool = createPool(12);
  const context = uniqueContext('dom');
  let herald: Herald;
  before(async () => {
    herald = createHerald({ pool, context });
    await herald.migrate();
    await pool.query(`CREATE TABLE "${context}".stock (sku text PRIMARY KEY, on_hand int NOT NULL, version int NOT NULL)`);
  });
  after(async () => {
    await dropContext(pool, context);
    await pool.end();
  });

  it('aggregates: concurrent updates each apply once, in version order, with retries on conflict', async () => {
    const accounts = aggregateRepository(herald, { stream: (id) => `account-${id}`, create: (id) => new Account(id) });
    await accounts.update('a1', (a) => a.deposit(100), { commandId: 'open-a1' });
    await Promise.all(Array.from({ length: 8 }, (_, i) => accounts.update('a1', (a) => a.withdraw(10), { commandId: `w-${i}`, correlationId: 'payday', attempts: 20 })));
    const account = await accounts.load('a1');
    assert.equal(account.balance, 20);
    assert.equal(account.version, 9);
    const events = await herald.readStream('account-a1');
    assert.deepEqual(events.map((e) => e.metadata.streamVersion), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual([events[0]!.metadata.causationId, events[0]!.metadata.correlationId], ['open-a1', 'open-a1']);
    assert.deepEqual(new Set(events.slice(1).map((e) => e.metadata.correlationId)), new Set(['payday']));
    assert.deepEqual(events.slice(1).map((e) => e.metadata.causationId).sort(), Array.from({ length: 8 }, (_, i) => `w-${i}`).sort());
  });

  it('aggregates: without retries a stale save fails with WrongExpectedVersionError and writes nothing', async () => {
    const accounts = aggregateRepository(herald, { stream: (id) => `account-${id}`, create: (id) => new Account(id) });
    await accounts.update('a2', (a) => a.deposit(50));
    const stale = await accounts.load('a2');
    await accounts.update('a2', (a) => a.withdraw(20));
    stale.withdraw(40);
    await assert.rejects(herald.transaction((tx) => accounts.save(tx, stale)), WrongExpectedVersionError);
    assert.equal((await accounts.load('a2')).balance, 30);
    await assert.rejects(accounts.update('a2', (a) => a.withdraw(1000)), /insufficient funds/);
    await assert.rejects(accounts.update('a2', (a) => a.deposit(-5)), InvalidEventPayloadError, "the event's schema still applies");
    assert.equal((await herald.readStream('account-a2')).length, 2);
  });

  it("deciders with a state table: the row and the events commit together, or neither", async () => {
    const table = `"${context}".stock`;
    const skus = deciderRepository(herald, {
      stream: (sku) => `sku-${sku}`,
      decider: stock,
      state: {
        async load(tx, sku) {
          const { rows } = await tx.query<{ on_hand: number; version: number }>(`SELECT on_hand, version FROM ${table} WHERE sku = $1 FOR UPDATE`, [sku]);
          return rows[0] && { state: { onHand: rows[0].on_hand }, version: rows[0].version };
        },
        async save(tx, sku, state, version) {
          if (state.onHand > 1000) throw new Error('the warehouse is full');
          await tx.query(`INSERT INTO ${table} VALUES ($1, $2, $3) ON CONFLICT (sku) DO UPDATE SET on_hand = $2, version = $3`, [sku, state.onHand, version]);
        },
      },
    });
    const received = await skus.execute('tea', { type: 'receive', qty: 10 });
    assert.deepEqual([received.state, received.version], [{ onHand: 10 }, 1]);
    await Promise.all(Array.from({ length: 5 }, () => skus.execute('tea', { type: 'reserve', qty: 2 }, { attempts: 10 })));
    await assert.rejects(skus.execute('tea', { type: 'reserve', qty: 1 }), /only 0 on hand/);
    await assert.rejects(skus.execute('tea', { type: 'receive', qty: 5000 }), /warehouse is full/);
    const { rows } = await pool.query(`SELECT on_hand, version FROM ${table} WHERE sku = 'tea'`);
    assert.deepEqual(rows[0], { on_hand: 0, version: 6 });
    assert.equal((await herald.readStream('sku-tea')).length, 6, 'the refused receive appended nothing');
    const folded = deciderRepository(herald, { stream: (sku) => `sku-${sku}`, decider: stock });
    assert.deepEqual(await folded.load('tea'), { state: { onHand: 0 }, version: 6 }, 'the events tell the same story as the table');
  });
});
