import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkShape, closest, formatPath } from './shape.js';

const issuesOf = (value: unknown) => checkShape(value).issues.map((i) => `${formatPath(i.path)}: ${i.message}`);

describe('config shape', () => {
  it('accepts a minimal and a full config', () => {
    assert.deepEqual(issuesOf({ contexts: [{ name: 'orders' }] }), []);
    const full = {
      databases: { default: { url: 'postgres://x', poolSize: 5 }, reporting: { url: 'postgres://y' } },
      contexts: [
        {
          name: 'orders',
          subscriptions: [{ name: 'a', handle: './h.js#a', batchSize: 10 }],
          relays: [{ transport: { broker: 'nats', servers: 'nats://127.0.0.1:4222' }, expectedConsumers: ['billing'] }],
          consumers: [{ name: 'b', source: 'billing', transport: { broker: 'redis' }, handlers: './h.js#handlers' }],
        },
        { name: 'reports', database: 'reporting' },
      ],
      admin: { port: 8080, users: [{ name: 'ann', passwordHash: 'scrypt$…', role: 'operator' }] },
      metrics: { port: 9464 },
    };
    assert.deepEqual(issuesOf(full), []);
  });

  it('names the path and the reason of every problem at once', () => {
    const issues = issuesOf({
      contexts: [
        {
          name: 'orders',
          relays: [{ transport: { broker: 'nats' } }, { transport: { broker: 'kafak' } }],
          subscriptions: [{ name: 'a', batchsize: 3 }],
          database: 'nowhere',
        },
        { name: 'orders' },
      ],
      admin: { users: [{ name: 'ann', passwordHash: 'x', role: 'admin' }] },
      extra: true,
    });
    assert.deepEqual(issues.sort(), [
      'admin.users[0].role: must be "viewer" or "operator", got "admin"',
      'contexts[0].database: unknown database "nowhere" (no `databases` are defined)',
      'contexts[0].relays[1].transport.broker: unknown broker "kafak"; known: rabbitmq, nats, redis',
      'contexts[0].subscriptions[0].batchsize: unknown option (did you mean "batchSize"?); expected one of name, handle, startFrom, consistency, batchSize, onError, retry, parking, handlerTimeoutMs, checkpointAfterMs, restart, init',
      'contexts[0].subscriptions[0].handle: is required: a handler function or a module reference "./file.js#export"',
      'contexts[1].name: context "orders" is already defined at contexts[0]',
      'extra: unknown option; expected one of databases, contexts, admin, metrics',
    ]);
  });

  it('checks outbox tables: the table, the column mapping and the broker', () => {
    const ok = { contexts: [{ name: 'orders', outboxes: [{ table: 'orders_outbox', columns: { aggregateId: 'order_id' }, transport: { broker: 'redis' } }] }] };
    assert.deepEqual(issuesOf(ok), []);
    assert.deepEqual(issuesOf({ contexts: [{ name: 'orders', outboxes: [{ columns: { aggregateid: 'x', type: '' }, transport: { broker: 'rabitmq' } }] }] }), [
      'contexts[0].outboxes[0].table: is required: a non-empty string, got nothing',
      'contexts[0].outboxes[0].columns.aggregateid: unknown option (did you mean "aggregateId"?); expected one of id, aggregateId, type, payload, occurredAt, dispatchedAt, eventId, metadata',
      'contexts[0].outboxes[0].columns.type: must be a non-empty string, got ""',
      'contexts[0].outboxes[0].transport.broker: unknown broker "rabitmq" (did you mean "rabbitmq"?); known: rabbitmq, nats, redis',
    ]);
  });

  it('refuses what is not a config', () => {
    assert.deepEqual(issuesOf(null), [': a config must be an object with `contexts`, got null']);
    assert.deepEqual(issuesOf({ contexts: [] }), ['contexts: must be a non-empty list of contexts, got a list']);
    assert.deepEqual(issuesOf({ contexts: 'orders' }), ['contexts: must be a non-empty list of contexts, got "orders"']);
  });

  it('suggests the closest known name', () => {
    assert.equal(closest('rabitmq', ['rabbitmq', 'nats', 'redis']), 'rabbitmq');
    assert.equal(closest('kafka', ['rabbitmq', 'nats', 'redis']), undefined);
    assert.equal(formatPath(['contexts', 0, 'relays', 1, 'transport']), 'contexts[0].relays[1].transport');
  });
});
