/**
 * The outbox table's checks when a relay starts (each problem its typed error), and a table
 * mapped with other names and types: mixed-case columns, an identity id, a text payload, an
 * event id column and headers.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import {
  OutboxColumnError,
  OutboxIndexError,
  OutboxSequenceError,
  OutboxTableError,
  OutboxTableMissingError,
  type OutboxRelayOptions,
} from '../../src/index.js';
import { waitFor } from '../helpers/db.js';
import { MemoryTransport } from '../helpers/memory-transport.js';
import { outboxWorld, published, relayOptions, SEED_OUTBOX_SQL } from '../helpers/outbox.js';

/** What `start()` says about an outbox table made by `ddl` (in the world's schema), relayed with `columns`. */
async function startError(t: TestContext, ddl: string, extra: Partial<OutboxRelayOptions> = {}): Promise<Error> {
  const world = await outboxWorld(t, { ddl });
  world.herald.relayOutbox(relayOptions(world, new MemoryTransport(), extra));
  return world.herald.start().then(
    () => assert.fail('start() should reject'),
    (error: Error) => error,
  );
}

const SEED = SEED_OUTBOX_SQL;

test('outbox checks: a missing table, a missing column, a wrong type, a wrong nullability each name the problem', async (t) => {
  const missing = await startError(t, SEED, { table: 'no_such_outbox' });
  assert.ok(missing instanceof OutboxTableMissingError, String(missing));
  assert.equal(missing.code, 'HERALD_OUTBOX_TABLE_MISSING');

  const noColumn = await startError(t, SEED.replace(/occurred_at.*\n/, ''));
  assert.ok(noColumn instanceof OutboxColumnError, String(noColumn));
  assert.equal(noColumn.code, 'HERALD_OUTBOX_COLUMN');
  assert.deepEqual([noColumn.field, noColumn.column, noColumn.problem], ['occurredAt', 'occurred_at', 'missing']);

  const wrongType = await startError(t, SEED.replace('JSONB      NOT NULL', 'BYTEA NOT NULL'));
  assert.ok(wrongType instanceof OutboxColumnError, String(wrongType));
  assert.equal(wrongType.problem, 'type');
  assert.match(wrongType.message, /"payload" \(payload\) is of type bytea; the relay takes jsonb, json, text, varchar/);

  const nullable = await startError(t, SEED.replace('UUID       NOT NULL', 'UUID'));
  assert.ok(nullable instanceof OutboxColumnError && nullable.problem === 'nullable', String(nullable));

  const mapped = await startError(t, SEED, { columns: { eventId: 'event_uuid' } });
  assert.ok(mapped instanceof OutboxColumnError && mapped.field === 'eventId' && mapped.problem === 'missing', String(mapped));
});

test('outbox checks: no sequence, a cached sequence, a shared sequence, no index each name the problem; several are listed together', async (t) => {
  const noSequence = await startError(t, SEED.replace('BIGSERIAL', 'BIGINT'));
  assert.ok(noSequence instanceof OutboxSequenceError && noSequence.problem === 'missing', String(noSequence));
  assert.equal(noSequence.code, 'HERALD_OUTBOX_SEQUENCE');

  const cached = await startError(t, `${SEED}\nALTER SEQUENCE orders_outbox_id_seq CACHE 20;`);
  assert.ok(cached instanceof OutboxSequenceError && cached.problem === 'cached', String(cached));
  assert.match(cached.message, /orders_outbox_id_seq has CACHE 20: each session takes 20 ids at once .* ALTER SEQUENCE .* CACHE 1/);

  const shared = await startError(t, `${SEED}\nCREATE TABLE other (id bigint DEFAULT nextval('orders_outbox_id_seq'));`);
  assert.ok(shared instanceof OutboxSequenceError && shared.problem === 'shared', String(shared));
  assert.match(shared.message, /also fills .*other\.id/);

  const identity = await startError(t, SEED.replace('BIGSERIAL  PRIMARY KEY', 'BIGINT GENERATED ALWAYS AS IDENTITY (CACHE 10) PRIMARY KEY'));
  assert.ok(identity instanceof OutboxSequenceError && identity.problem === 'cached', 'an identity column is checked too');

  const noIndex = await startError(t, SEED.replace('PRIMARY KEY', '').replace(/CREATE INDEX.*/, ''));
  assert.ok(noIndex instanceof OutboxIndexError, String(noIndex));
  assert.equal(noIndex.code, 'HERALD_OUTBOX_INDEX');

  const several = await startError(t, SEED.replace('PRIMARY KEY', '').replace(/CREATE INDEX.*/, '').replace('TIMESTAMPTZ NULL', 'TIMESTAMPTZ NOT NULL'));
  assert.ok(several instanceof OutboxTableError, String(several));
  assert.equal(several.code, 'HERALD_OUTBOX_TABLE');
  assert.deepEqual(several.problems.map((p) => p.code), ['HERALD_OUTBOX_COLUMN', 'HERALD_OUTBOX_INDEX']);
});

test('outbox mapping: mixed-case columns, an identity id, a text payload, an event id column and headers', { timeout: 60_000 }, async (t) => {
  const world = await outboxWorld(t, {
    ddl: `CREATE TABLE "OrderEvents" (
            "Seq"         integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            "OrderId"     text NOT NULL,
            "Kind"        varchar(100) NOT NULL,
            "Body"        text,
            "At"          timestamptz NOT NULL DEFAULT now(),
            "SentAt"      timestamptz,
            "EventId"     uuid,
            "Headers"     jsonb)`,
  });
  const transport = new MemoryTransport();
  const relay = world.herald.relayOutbox({
    ...relayOptions(world, transport),
    table: 'OrderEvents',
    columns: { id: 'Seq', aggregateId: 'OrderId', type: 'Kind', payload: 'Body', occurredAt: 'At', dispatchedAt: 'SentAt', eventId: 'EventId', metadata: 'Headers' },
  });
  await world.herald.start();
  const table = `"${world.context}"."OrderEvents"`;
  const eventId = randomUUID();
  await world.pool.query(`INSERT INTO ${table} ("OrderId", "Kind", "Body", "EventId", "Headers") VALUES ('o-1', 'OrderPlaced', '{"total": 42}', $1, '{"tenant": "acme"}')`, [eventId]);
  await world.pool.query(`INSERT INTO ${table} ("OrderId", "Kind", "Body", "Headers") VALUES ('o-1', 'Note', 'plain text', '[1, 2]'), ('o-2', 'Empty', NULL, NULL)`);
  const events = await waitFor(() => {
    const list = published(transport.broker, world.context);
    return list.length === 3 ? list : undefined;
  }, { message: 'three rows' });
  assert.deepEqual(events.map((e) => [e.type, e.metadata.streamId, e.metadata.streamVersion, e.metadata.eventNumber, e.data]), [
    ['OrderPlaced', 'o-1', 1, 1, { total: 42 }],
    ['Note', 'o-1', 2, 2, 'plain text'],
    ['Empty', 'o-2', 1, 3, null],
  ]);
  assert.equal(events[0]!.metadata.eventId, eventId);
  assert.deepEqual(events[0]!.metadata.custom, { tenant: 'acme' });
  assert.deepEqual(events[1]!.metadata.custom, { value: [1, 2] });
  await waitFor(async () => (await world.pool.query(`SELECT count(*)::int AS n FROM ${table} WHERE "SentAt" IS NULL`)).rows[0].n === 0, { message: 'all marked sent' });
  assert.equal(relay.name, `outbox:${world.context}.OrderEvents`);
});
