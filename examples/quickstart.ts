import pg from 'pg';
import { z } from 'zod';
import { createHerald, defineEvent } from 'herald';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });

// 1. An event type and its payload schema (any Standard Schema: zod, valibot, arktype).
const OrderPlaced = defineEvent('OrderPlaced', z.object({ orderId: z.string(), total: z.number() }));

// 2. One Herald per bounded context: its log lives in the PostgreSQL schema of that name.
const shop = createHerald({ pool, context: 'shop', events: [OrderPlaced] });
await shop.migrate();
await pool.query('CREATE TABLE IF NOT EXISTS shop.orders (id text PRIMARY KEY, total numeric NOT NULL)');
await pool.query('CREATE TABLE IF NOT EXISTS shop.receipts (order_id text PRIMARY KEY, total numeric NOT NULL)');

// 3. A durable subscription. What it writes through `tx` commits with its checkpoint: exactly once.
shop.subscribe({
  name: 'shop.receipts',
  consistency: 'strong',
  async handle(event, meta, { tx }) {
    if (!OrderPlaced.is(event)) return;
    await tx.query('INSERT INTO shop.receipts VALUES ($1, $2)', [event.data.orderId, event.data.total]);
    console.log(`receipt for ${event.data.orderId} (event #${meta.eventNumber}, ${meta.streamId} v${meta.streamVersion})`);
  },
});
await shop.start();

// 4. Change state and record the event in the same transaction.
const orderId = `o-${Date.now()}`;
await shop.transaction(async (tx) => {
  await tx.query('INSERT INTO shop.orders VALUES ($1, $2)', [orderId, 42]);
  await shop.append(tx, `order-${orderId}`, OrderPlaced.create({ orderId, total: 42 }), {
    expectedVersion: 'noStream',
    consistency: 'strong', // resolves once every strong subscription has handled it
  });
});
const { rows } = await pool.query('SELECT total FROM shop.receipts WHERE order_id = $1', [orderId]);
console.log(`order ${orderId} placed; receipt total ${rows[0].total}`);

await shop.stop();
await pool.end();
