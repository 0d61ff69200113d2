/**
 * An outbox table relayed into Herald's own log (`intoLog()`): the log's subscriptions see every
 * committed row once, each aggregate in order, rows of concurrent writers and rolled-back ones
 * included in the torture; a page published again adds nothing twice; a payload the log refuses
 * is parked by the relay, not retried forever.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { z } from 'zod';
import { createHerald, defineEvent, type RecordedEvent } from '../../src/index.js';
import { intoLog } from '../../src/outbox/index.js';
import { waitFor } from '../helpers/db.js';
import { insert, outboxWorld, relayOptions, undispatched } from '../helpers/outbox.js';

test('intoLog: concurrent writers with rollbacks — a subscription on the log sees every committed row once, each aggregate in order', { timeout: 120_000 }, async (t) => {
  const world = await outboxWorld(t);
  const seen: RecordedEvent[] = [];
  world.herald.relayOutbox({ ...relayOptions(world, undefined as never), transport: intoLog(world.herald) });
  world.herald.subscribe({ name: 'projection', handle: async (event) => void seen.push(event) });
  await world.herald.start();

  const aggregates = Array.from({ length: 8 }, () => randomUUID());
  const committed: number[] = [];
  const writer = async (w: number) => {
    for (let i = 0; i < 25; i++) {
      const client = await world.pool.connect();
      try {
        await client.query('BEGIN');
        const id = await insert(client, world, aggregates[(w + i) % aggregates.length]!, 'OrderChanged', { w, i });
        if (i % 5 === 4) await client.query('ROLLBACK');
        else {
          await client.query('COMMIT');
          committed.push(id);
        }
      } finally {
        client.release();
      }
    }
  };
  await Promise.all([0, 1, 2, 3].map(writer));
  await waitFor(() => seen.length >= committed.length && undispatched(world).then((rows) => rows.length === 0), { timeoutMs: 30_000, message: 'every committed row handled' });

  const ids = seen.map((e) => Number(e.metadata.custom.outboxId));
  assert.deepEqual([...ids].sort((a, b) => a - b), [...committed].sort((a, b) => a - b), 'every committed row once, no rolled-back row');
  const byStream = new Map<string, number[]>();
  for (const e of seen) byStream.set(e.metadata.streamId, [...(byStream.get(e.metadata.streamId) ?? []), Number(e.metadata.custom.outboxId)]);
  for (const [stream, rows] of byStream) assert.deepEqual(rows, [...rows].sort((a, b) => a - b), `aggregate ${stream} in row order`);
  for (const e of seen) assert.equal(e.metadata.streamVersion, byStream.get(e.metadata.streamId)!.indexOf(Number(e.metadata.custom.outboxId)) + 1);
});

test('intoLog: a page published again adds nothing twice; a payload the log refuses is parked and its aggregate waits', { timeout: 60_000 }, async (t) => {
  const world = await outboxWorld(t);
  const Paid = defineEvent('OrderPaid', z.object({ amount: z.number() }));
  // The log's definitions refuse a Paid without a number: that row is parked, the other aggregate flows.
  const herald = createHerald({ pool: world.pool, context: world.context, events: [Paid], pollMs: 50, leaseTtlMs: 2000 });
  world.defer(() => herald.stop());
  const transport = intoLog(herald);
  const relay = herald.relayOutbox({ ...relayOptions(world, undefined as never), transport });
  await herald.start();
  const [a, b] = [randomUUID(), randomUUID()];
  await insert(world.pool, world, a, 'OrderPaid', { amount: 'lots' });
  await insert(world.pool, world, a, 'OrderPaid', { amount: 2 });
  await insert(world.pool, world, b, 'OrderPaid', { amount: 3 });
  const parked = await waitFor(async () => (await herald.parked.list({ subscription: relay.name })).find((p) => p.status === 'parked'), { message: 'the refused row parked' });
  assert.match(parked.error?.message ?? '', /Invalid payload for event 'OrderPaid'/);
  await waitFor(async () => (await herald.readStream(b)).length === 1, { message: "the other aggregate's row in the log" });
  assert.equal((await herald.readStream(a)).length, 0, "the refused row's aggregate waits behind it");

  // The same page again (a confirm lost after the append committed): nothing is added twice.
  const log = await herald.readLog(0, 100);
  const again = log.map((e) => ({ id: e.metadata.eventId, source: world.context, type: e.type, key: e.metadata.streamId, body: Buffer.from(JSON.stringify({
    specversion: '1.0', id: e.metadata.eventId, type: e.type, source: `/herald/${world.context}`, time: e.metadata.createdAt.toISOString(),
    heraldcontext: world.context, heraldstream: e.metadata.streamId, heraldnumber: 1, heraldversion: 1, datacontenttype: 'application/json', data: e.data,
  })) }));
  await transport.publish('events', again);
  assert.equal((await herald.readLog(0, 100)).length, log.length);
});
