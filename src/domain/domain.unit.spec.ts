import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WrongExpectedVersionError } from '../errors.js';
import type { NewEvent, RecordedEvent } from '../events/types.js';
import { AggregateRoot, type AnyEvent } from './aggregate.js';
import { retryOnConflict } from './conflicts.js';
import { type Decider, decideAll, fold } from './decider.js';
import { stamp } from './store.js';

class Counter extends AggregateRoot {
  total = 0;
  add(n: number) {
    if (n <= 0) throw new Error('add a positive number');
    this.raise({ type: 'Added', data: { n } });
  }
  protected apply(event: AnyEvent) {
    if (event.type === 'Added') this.total += (event.data as { n: number }).n;
  }
}

const recorded = (version: number, n: number): RecordedEvent => ({
  type: 'Added',
  data: { n },
  metadata: { eventId: `e${version}`, eventNumber: version, streamId: 'c', streamVersion: version, causationId: null, correlationId: null, createdAt: new Date(0), custom: {} },
});

type Cart = { items: string[]; checkedOut: boolean };
type CartCommand = { type: 'add'; item: string } | { type: 'checkout' };
const cart: Decider<CartCommand, Cart, NewEvent> = {
  initialState: () => ({ items: [], checkedOut: false }),
  decide(command, state) {
    if (state.checkedOut) throw new Error('cart is checked out');
    if (command.type === 'add') return state.items.includes(command.item) ? [] : { type: 'ItemAdded', data: { item: command.item } };
    if (state.items.length === 0) throw new Error('empty cart');
    return [{ type: 'CheckedOut', data: {} }];
  },
  evolve(state, event) {
    if (event.type === 'ItemAdded') return { ...state, items: [...state.items, (event.data as { item: string }).item] };
    if (event.type === 'CheckedOut') return { ...state, checkedOut: true };
    return state;
  },
};

describe('aggregate roots', () => {
  it('replay history, raise and apply new events, and know the version to expect', () => {
    const counter = new Counter('c');
    counter.loadFromHistory([recorded(1, 2), recorded(2, 3)]);
    assert.equal(counter.total, 5);
    assert.equal(counter.version, 2);
    counter.add(4);
    assert.equal(counter.total, 9, 'applied when raised');
    assert.deepEqual(counter.uncommittedEvents, [{ type: 'Added', data: { n: 4 } }]);
    assert.throws(() => counter.add(0), /positive/);
    assert.equal(counter.uncommittedEvents.length, 1, 'a refused command raises nothing');
    counter.markCommitted(3);
    assert.equal(counter.version, 3);
    assert.equal(counter.uncommittedEvents.length, 0);
  });
});

describe('deciders', () => {
  it('decide from the folded state; evolve is pure', () => {
    const start = fold(cart, []);
    const added = decideAll(cart, { type: 'add', item: 'tea' }, start);
    const state = fold(cart, added, start);
    assert.deepEqual(state, { items: ['tea'], checkedOut: false });
    assert.deepEqual(start, { items: [], checkedOut: false }, 'the initial state was not changed');
    assert.deepEqual(decideAll(cart, { type: 'add', item: 'tea' }, state), [], 'idempotent: nothing to decide');
    assert.throws(() => decideAll(cart, { type: 'checkout' }, start), /empty cart/);
    assert.deepEqual(fold(cart, decideAll(cart, { type: 'checkout' }, state), state).checkedOut, true);
  });
});

describe('command context', () => {
  it("events carry the command's id as causation and its correlation (or its id)", () => {
    const [a, b] = stamp([{ type: 'A', data: {} }, { type: 'B', data: {}, causationId: 'own', metadata: { x: 1 } }], { commandId: 'cmd-1', metadata: { user: 'ann' } });
    assert.deepEqual([a!.causationId, a!.correlationId, a!.metadata], ['cmd-1', 'cmd-1', { user: 'ann' }]);
    assert.deepEqual([b!.causationId, b!.correlationId, b!.metadata], ['own', 'cmd-1', { user: 'ann', x: 1 }]);
    const [c] = stamp([{ type: 'C', data: {} }], { commandId: 'cmd-2', correlationId: 'conv-9' });
    assert.deepEqual([c!.causationId, c!.correlationId], ['cmd-2', 'conv-9']);
  });
});

describe('retryOnConflict', () => {
  it('runs again on a version conflict only, up to its attempts', async () => {
    let calls = 0;
    assert.equal(await retryOnConflict(async () => (++calls < 3 ? Promise.reject(new WrongExpectedVersionError('s', 1, 2)) : 'done'), { delayMs: 1 }), 'done');
    assert.equal(calls, 3);
    calls = 0;
    await assert.rejects(retryOnConflict(async () => (++calls, Promise.reject(new WrongExpectedVersionError('s', 1, 2))), { attempts: 2, delayMs: 1 }), WrongExpectedVersionError);
    assert.equal(calls, 2);
    calls = 0;
    await assert.rejects(retryOnConflict(async () => (++calls, Promise.reject(new Error('boom')))), /boom/);
    assert.equal(calls, 1, 'other errors are not retried');
  });
});
