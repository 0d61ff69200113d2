import pg from 'pg';
import { z } from 'zod';
import { createHerald, defineEvent } from 'herald';
import { rabbitmq } from 'herald/transports/rabbitmq';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });

// The orders team's outbox table, as it is (herald schema orders_outbox.yaml makes the same).
await pool.query('CREATE SCHEMA IF NOT EXISTS orders');
await pool.query(`CREATE TABLE IF NOT EXISTS orders.orders_outbox (
  id            BIGSERIAL   PRIMARY KEY,
  aggregate_id  UUID        NOT NULL,
  event_type    TEXT        NOT NULL,
  payload       JSONB       NOT NULL,
  occurred_at   TIMESTAMPTZ NOT NULL,
  dispatched_at TIMESTAMPTZ NULL)`);
await pool.query('CREATE INDEX IF NOT EXISTS orders_outbox_dispatched_at_idx ON orders.orders_outbox (dispatched_at) WHERE dispatched_at IS NULL');

// Herald relays it instead of the team's polling publisher: same table, writers unchanged.
const orders = createHerald({ pool, context: 'orders' });
await orders.migrate();
const ordersBroker = rabbitmq({ url: process.env.AMQP_URL });
orders.relayOutbox({ table: 'orders_outbox', schema: 'orders', transport: ordersBroker }); // the seed's column names

// Billing consumes the rows as CloudEvents: each aggregate in order, each row once.
const OrderPlaced = defineEvent('OrderPlaced', z.object({ orderId: z.string(), total: z.number() }));
const billing = createHerald({ pool, context: 'billing' });
await billing.migrate();
await pool.query('CREATE TABLE IF NOT EXISTS billing.invoices (order_id text PRIMARY KEY, total numeric NOT NULL)');
const billingBroker = rabbitmq({ url: process.env.AMQP_URL });
billing.consume({
  transport: billingBroker,
  name: 'billing',
  source: 'orders',
  events: [OrderPlaced],
  handlers: {
    async OrderPlaced(event, meta, { tx }) {
      await tx.query('INSERT INTO billing.invoices VALUES ($1, $2)', [event.data.orderId, event.data.total]);
      console.log(`invoiced ${event.data.orderId} (row ${meta.eventNumber}, aggregate ${meta.streamId} v${meta.streamVersion})`);
    },
  },
});
await billing.start();
await orders.start();

// The team's writer, as it is: the order and its outbox row in one transaction.
const orderId = `o-${Date.now()}`;
const client = await pool.connect();
await client.query('BEGIN');
// … INSERT INTO orders.orders …
await client.query(
  `INSERT INTO orders.orders_outbox (aggregate_id, event_type, payload, occurred_at) VALUES (gen_random_uuid(), 'OrderPlaced', $1, now())`,
  [{ orderId, total: 42 }],
);
await client.query('COMMIT');
client.release();

for (;;) {
  const { rows } = await pool.query('SELECT dispatched_at FROM orders.orders_outbox WHERE payload->>$1 = $2', ['orderId', orderId]);
  const { rows: invoiced } = await pool.query('SELECT 1 FROM billing.invoices WHERE order_id = $1', [orderId]);
  if (rows[0]?.dispatched_at && invoiced.length > 0) break;
  await new Promise((resolve) => setTimeout(resolve, 50));
}
console.log(`${orderId}: dispatched and invoiced`);
await orders.stop();
await billing.stop();
await Promise.all([ordersBroker.close(), billingBroker.close()]);
await pool.end();
