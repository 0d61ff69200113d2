import pg from 'pg';
import { z } from 'zod';
import { createHerald, defineEvent } from 'herald';
import { rabbitmq } from 'herald/transports/rabbitmq';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
const OrderPlaced = defineEvent('OrderPlaced', z.object({ orderId: z.string(), total: z.number() }));

// The sales service: its log is relayed to RabbitMQ. Billing must handle every event.
const sales = createHerald({ pool, context: 'sales', events: [OrderPlaced], deliveries: { flagAfterMs: 60_000 } });
await sales.migrate();
const salesBroker = rabbitmq({ url: process.env.AMQP_URL });
sales.relay({ transport: salesBroker, expectedConsumers: ['billing'] });

// The billing service (its own schema here; its own database in production).
const billing = createHerald({ pool, context: 'billing' });
await billing.migrate();
const billingBroker = rabbitmq({ url: process.env.AMQP_URL });
await pool.query('CREATE TABLE IF NOT EXISTS billing.invoices (order_id text PRIMARY KEY, total numeric NOT NULL)');
billing.consume({
  transport: billingBroker,
  name: 'billing',
  source: 'sales',
  events: [OrderPlaced], // payloads are validated on arrival; an invalid one is parked
  handlers: {
    // Runs in the transaction that records the message in billing's inbox: exactly-once effect.
    async OrderPlaced(event, meta, { tx }) {
      await tx.query('INSERT INTO billing.invoices (order_id, total) VALUES ($1, $2)', [event.data.orderId, event.data.total]);
    },
  },
});
await sales.start();
await billing.start();

const orderId = `o-${Date.now()}`;
const { eventIds } = await sales.append(`order-${orderId}`, OrderPlaced.create({ orderId, total: 42 }));

// The sender learns from billing's acknowledgements (sent in batches) that the event was handled.
for (let journey = await sales.deliveries.journey(eventIds[0]!); ; journey = await sales.deliveries.journey(eventIds[0]!)) {
  const step = journey?.consumers.find((c) => c.consumer === 'billing');
  if (step?.status === 'handled') {
    console.log(`${orderId}: invoiced by billing at ${step.handledAt?.toISOString()}`);
    break;
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
}
await billing.stop();
await sales.stop();
await Promise.all([billingBroker.close(), salesBroker.close()]);
await pool.end();
