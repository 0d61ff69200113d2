import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import {
  ConsistencyOutsideTransactionError,
  createHerald,
  defineEvent,
  DuplicateEventIdError,
  type Herald,
  InvalidEventPayloadError,
  PayloadNotSerializableError,
  type SqlExecutor,
  WrongExpectedVersionError,
} from '../../src/index.js';
import { migrate } from '../../src/schema/migrate.js';
import { migrations } from '../../src/schema/migrations.js';
import { createPool, dropContext, uniqueContext } from '../helpers/db.js';

const OrderPlaced = defineEvent('OrderPlaced', z.object({ orderId: z.string(), qty: z.number().int().positive() }));

describe('event log', () => {
  const pool = createPool();
  const context = uniqueContext('log');
  let herald: Herald;

  before(async () => {
    herald = createHerald({ pool, context, events: [OrderPlaced] });
    await herald.migrate();
    await pool.query(`CREATE TABLE "${context}".orders (id text PRIMARY KEY)`);
  });
  after(async () => {
    await dropContext(pool, context);
    await pool.end();
  });

  const count = async (sql: string, values: unknown[] = []) => Number((await pool.query(sql, values)).rows[0].n);
  const waitUntil = async (condition: () => Promise<boolean>) => {
    for (let deadline = Date.now() + 10_000; !(await condition()); ) {
      if (Date.now() > deadline) assert.fail('timed out');
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  it('migrates idempotently, and concurrently from several processes', async () => {
    const other = uniqueContext('mig');
    const pools = [createPool(2), createPool(2), createPool(2)];
    try {
      const results = await Promise.all(pools.map((p) => createHerald({ pool: p, context: other }).migrate()));
      const all = migrations.map((m) => m.version);
      assert.deepEqual(results.map((r) => r.applied).sort((a, b) => a.length - b.length), [[], [], all], 'one process applied all, the others none');
      assert.deepEqual((await createHerald({ pool, context: other }).migrate()).applied, []);
    } finally {
      await dropContext(pool, other);
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it('commits events with the state change, and rolls both back together', async () => {
    await herald.transaction(async (tx) => {
      await tx.query(`INSERT INTO "${context}".orders VALUES ('o-1')`);
      await herald.append(tx, 'order-o-1', [OrderPlaced.create({ orderId: 'o-1', qty: 1 })]);
    });
    await assert.rejects(
      herald.transaction(async (tx) => {
        await tx.query(`INSERT INTO "${context}".orders VALUES ('o-2')`);
        await herald.append(tx, 'order-o-2', [OrderPlaced.create({ orderId: 'o-2', qty: 1 })]);
        throw new Error('business rule failed after the append');
      }),
      /business rule failed/,
    );
    assert.equal(await count(`SELECT count(*) AS n FROM "${context}".orders`), 1);
    assert.deepEqual((await herald.readStream('order-o-1')).map((e) => e.data), [{ orderId: 'o-1', qty: 1 }]);
    assert.deepEqual(await herald.readStream('order-o-2'), []);
  });

  it('a transaction whose callback throws rolls back and keeps its connection', async () => {
    const single = createPool(1);
    const once = createHerald({ pool: single, context });
    const pids: number[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        await assert.rejects(
          once.transaction(async (tx) => {
            pids.push((await tx.query('SELECT pg_backend_pid() AS pid')).rows[0].pid);
            throw new Error('business rule');
          }),
          /business rule/,
        );
      }
    } finally {
      await single.end();
    }
    assert.equal(new Set(pids).size, 1, 'the same backend served every transaction');
  });

  it('appends with the caller’s own pg client and transaction', async () => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const result = await herald.append(client, 'order-own', OrderPlaced.create({ orderId: 'own', qty: 2 }));
      assert.equal(result.streamVersion, 1);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    assert.deepEqual(await herald.readStream('order-own'), []);
  });

  it('works through any SqlExecutor (adapter for other drivers)', async () => {
    const client = await pool.connect();
    const statements: string[] = [];
    const executor: SqlExecutor = {
      async query<Row>(text: string, values?: unknown[]) {
        statements.push(text);
        const result = await client.query(text, values);
        return { rows: result.rows as Row[] };
      },
    };
    try {
      await client.query('BEGIN');
      await herald.append(executor, 'order-adapter', OrderPlaced.create({ orderId: 'a', qty: 1 }));
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    assert.equal(statements.length, 1, 'an append is one round trip');
    assert.equal((await herald.readStream('order-adapter')).length, 1);
  });

  it('checks the expected version: noStream, exact, streamExists, any', async () => {
    const stream = `s-${randomUUID()}`;
    const e = () => OrderPlaced.create({ orderId: stream, qty: 1 });
    await herald.append(stream, [e(), e()], { expectedVersion: 'noStream' });
    await assert.rejects(herald.append(stream, e(), { expectedVersion: 'noStream' }), (err: unknown) => {
      assert.ok(err instanceof WrongExpectedVersionError);
      assert.equal(err.actual, 2);
      assert.equal(err.code, 'HERALD_WRONG_EXPECTED_VERSION');
      return true;
    });
    await assert.rejects(herald.append(stream, e(), { expectedVersion: 1 }), WrongExpectedVersionError);
    assert.equal((await herald.append(stream, e(), { expectedVersion: 2 })).streamVersion, 3);
    assert.equal((await herald.append(stream, e(), { expectedVersion: 'streamExists' })).streamVersion, 4);
    await assert.rejects(herald.append(`new-${stream}`, e(), { expectedVersion: 'streamExists' }), WrongExpectedVersionError);
    assert.equal((await herald.append(stream, e())).streamVersion, 5);
    assert.deepEqual(
      (await herald.readStream(stream)).map((r) => r.metadata.streamVersion),
      [1, 2, 3, 4, 5],
    );
  });

  it('a version conflict rolls back the caller’s whole transaction', async () => {
    const stream = `conflict-${randomUUID()}`;
    await herald.append(stream, OrderPlaced.create({ orderId: 'c', qty: 1 }));
    await assert.rejects(
      herald.transaction(async (tx) => {
        await tx.query(`INSERT INTO "${context}".orders VALUES ($1)`, [stream]);
        await herald.append(tx, stream, OrderPlaced.create({ orderId: 'c', qty: 1 }), { expectedVersion: 0 });
      }),
      WrongExpectedVersionError,
    );
    assert.equal(await count(`SELECT count(*) AS n FROM "${context}".orders WHERE id = $1`, [stream]), 0);
  });

  it('concurrent exact-version appends to one stream: exactly one wins', async () => {
    const stream = `race-${randomUUID()}`;
    await herald.append(stream, OrderPlaced.create({ orderId: 'r', qty: 1 }));
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, () => herald.append(stream, OrderPlaced.create({ orderId: 'r', qty: 1 }), { expectedVersion: 1 })),
    );
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof WrongExpectedVersionError);
    assert.equal((await herald.readStream(stream)).length, 2);
  });

  it('rejects an invalid payload with a typed error naming type and path; nothing is written', async () => {
    const stream = `bad-${randomUUID()}`;
    await assert.rejects(
      herald.append(stream, [OrderPlaced.create({ orderId: 'x', qty: 1 }), OrderPlaced.create({ orderId: 'x', qty: -3 })]),
      (err: unknown) => {
        assert.ok(err instanceof InvalidEventPayloadError);
        assert.equal(err.eventType, 'OrderPlaced');
        assert.equal(err.issues[0]?.path, 'qty');
        return true;
      },
    );
    // A raw event of a registered type is validated too.
    await assert.rejects(herald.append(stream, { type: 'OrderPlaced', data: { orderId: 1 } }), InvalidEventPayloadError);
    await assert.rejects(herald.append(stream, { type: 'Raw', data: { big: 1n } }), (err: unknown) => {
      assert.ok(err instanceof PayloadNotSerializableError);
      assert.equal(err.path, 'big');
      return true;
    });
    assert.deepEqual(await herald.readStream(stream), []);
  });

  it('stores every metadata field and round-trips payloads exactly', async () => {
    const eventId = randomUUID();
    const data = {
      text: 'héllo "quoted" \\ 🎉',
      n: [0, -1.5, 1e21, Number.MAX_SAFE_INTEGER],
      nested: { empty: {}, list: [null, true, false, 'x'] },
      at: new Date('2026-03-04T05:06:07.089Z'),
      dropped: undefined,
    };
    const result = await herald.append(
      'meta-1',
      { type: 'Raw', data, eventId, metadata: { userId: 'u-7', tags: ['a'] } },
      { causationId: 'cmd-1', correlationId: 'corr-1', metadata: { source: 'test', userId: 'overridden' } },
    );
    assert.deepEqual(result.eventIds, [eventId]);
    const [event] = await herald.readStream('meta-1');
    assert.ok(event);
    const { dropped: _dropped, ...kept } = data;
    assert.deepEqual(event.data, { ...kept, at: '2026-03-04T05:06:07.089Z' }, 'undefined dropped, Date as ISO string, the rest exact');
    assert.deepEqual(event.metadata.custom, { source: 'test', userId: 'u-7', tags: ['a'] });
    assert.equal(event.metadata.eventId, eventId);
    assert.equal(event.metadata.streamId, 'meta-1');
    assert.equal(event.metadata.streamVersion, 1);
    assert.equal(event.metadata.causationId, 'cmd-1');
    assert.equal(event.metadata.correlationId, 'corr-1');
    assert.ok(event.metadata.createdAt instanceof Date);
    assert.ok(Math.abs(event.metadata.createdAt.getTime() - Date.now()) < 60_000);
  });

  it('refuses a duplicate event id with a typed error', async () => {
    const eventId = randomUUID();
    await herald.append('dup-1', { type: 'Raw', data: {}, eventId });
    await assert.rejects(herald.append('dup-2', { type: 'Raw', data: {}, eventId }), (err: unknown) => {
      assert.ok(err instanceof DuplicateEventIdError);
      assert.equal(err.eventId, eventId);
      return true;
    });
  });

  it('refuses strong consistency where Herald cannot see the commit, before writing', async () => {
    const client = await pool.connect();
    try {
      await assert.rejects(
        herald.append(client, 'strong-outside', OrderPlaced.create({ orderId: 's', qty: 1 }), { consistency: 'strong' }),
        ConsistencyOutsideTransactionError,
      );
    } finally {
      client.release();
    }
    assert.deepEqual(await herald.readStream('strong-outside'), []);
  });

  it('upgrades a v4 log to v5: numbers given stay, committed unsequenced events and appends in flight are numbered next', async () => {
    const old = uniqueContext('v4');
    const v4 = migrations.filter((m) => m.version <= 4);
    const writer = createHerald({ pool, context: old });
    const sequenceAtV4 = () => pool.query(`SELECT * FROM "${old}".sequence_events(1000, 'unused')`);
    try {
      await migrate(pool, old, v4);
      const event = (i: number) => ({ type: 'Counted', data: { i } });
      for (let i = 0; i < 5; i++) await writer.append(`stream-${i % 2}`, [event(i), event(i + 100)]);
      await sequenceAtV4();
      await writer.append('stream-0', [event(10)]); // committed, not sequenced
      await writer.append('stream-2', [event(11), event(12)]);
      const { rows: before } = await pool.query<{ event_id: string; event_number: string | null }>(
        `SELECT event_id, event_number FROM "${old}".events ORDER BY id`,
      );
      assert.equal(before.filter((r) => r.event_number !== null).length, 10);

      // An append in flight while the upgrade starts: the upgrade waits for it.
      const client = await pool.connect();
      let inFlight: string;
      try {
        await client.query('BEGIN');
        inFlight = (await writer.append(client, 'stream-1', [event(13)])).eventIds[0]!;
        const upgrading = migrate(pool, old);
        await new Promise((r) => setTimeout(r, 200));
        await client.query('COMMIT');
        // v5, and every later version (they apply in the same upgrade).
        assert.deepEqual((await upgrading).applied, migrations.filter((m) => m.version >= 5).map((m) => m.version));
      } finally {
        client.release();
      }

      const log = await writer.readLog(0, 1000);
      assert.deepEqual(
        log.map((e) => e.metadata.eventNumber),
        Array.from({ length: 14 }, (_, i) => i + 1),
        'gapless',
      );
      const numberOf = new Map(log.map((e) => [e.metadata.eventId, e.metadata.eventNumber]));
      for (const row of before.filter((r) => r.event_number !== null)) {
        assert.equal(numberOf.get(row.event_id), Number(row.event_number), 'a number given at v4 is kept');
      }
      assert.deepEqual(
        before.filter((r) => r.event_number === null).map((r) => numberOf.get(r.event_id)),
        [11, 12, 13],
        'committed unsequenced events numbered next, in insertion order',
      );
      assert.equal(numberOf.get(inFlight), 14);
      assert.deepEqual(
        (await writer.readStream('stream-1')).map((e) => e.metadata.eventNumber),
        log.filter((e) => e.metadata.streamId === 'stream-1').map((e) => e.metadata.eventNumber),
      );

      // And the log goes on from there.
      await writer.append('stream-3', [event(20)]);
      const runtime = createHerald({ pool, context: old });
      await runtime.start();
      try {
        const status = await runtime.status();
        assert.equal(status.unsequenced, 0);
        assert.equal(status.head, 15);
        assert.equal(((await runtime.readLog(14, 10))[0]?.data as { i: number } | undefined)?.i, 20);
      } finally {
        await runtime.stop();
      }
    } finally {
      await dropContext(pool, old);
    }
  });

  it('forgets the ids of rolled-back appends once their transactions are over', async () => {
    const sequencing = createHerald({ pool, context });
    await sequencing.start();
    try {
      // A rolled-back append below committed ones: its id is a hole the sequencer looks at until
      // its transaction is over, then drops.
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await herald.append(client, 'rolled-back', [OrderPlaced.create({ orderId: 'rb', qty: 1 })]);
        const later = await herald.append('after-rollback', [OrderPlaced.create({ orderId: 'ar', qty: 1 })]);
        await waitUntil(async () => (await herald.readStream('after-rollback')).some((e) => e.metadata.eventId === later.eventIds[0] && e.metadata.eventNumber > 0));
        const { rows } = await pool.query(`SELECT holes::text || recent_holes::text AS holes FROM "${context}".log_head`);
        assert.notEqual(rows[0].holes, '{}{}', 'the open transaction\'s id is a hole');
        await client.query('ROLLBACK');
      } finally {
        client.release();
      }
      await herald.append('after-rollback', [OrderPlaced.create({ orderId: 'ar2', qty: 1 })]);
      await waitUntil(async () => {
        const { rows } = await pool.query(`SELECT holes::text || recent_holes::text AS holes FROM "${context}".log_head`);
        return rows[0].holes === '{}{}' && (await sequencing.status()).unsequenced === 0;
      });
      await assert.rejects(
        sequencing.transaction(async (tx) => {
          await tx.query(`SELECT pg_current_xact_id()`);
          await tx.query(`SELECT * FROM "${context}".sequence_events(10, 'unused')`);
        }),
        /must run in a transaction of its own/,
      );
    } finally {
      await sequencing.stop();
    }
  });

  it('numbers events gaplessly in commit order once sequenced', async () => {
    const sequencing = createHerald({ pool, context });
    await sequencing.start();
    try {
      const status = await sequencing.status();
      assert.equal(status.unsequenced, 0);
      const all = await herald.readLog(0, 100_000);
      assert.deepEqual(
        all.map((e) => e.metadata.eventNumber),
        Array.from({ length: all.length }, (_, i) => i + 1),
      );
      assert.equal(status.head, all.length);
    } finally {
      await sequencing.stop();
    }
  });
});
