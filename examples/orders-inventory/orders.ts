import type pg from 'pg';
import type { Herald } from '../../src/index.js';
import { OrderPlaced, StockReserved, StockShortage } from './events.js';

/** The orders context: takes orders, and confirms or rejects them when inventory answers. */
export async function ordersContext(pool: pg.Pool, say: (line: string) => void, orders: Herald, inventoryLog: Herald) {
  await orders.migrate();
  await pool.query(`CREATE TABLE IF NOT EXISTS example_orders.orders (
    id text PRIMARY KEY, sku text NOT NULL, quantity int NOT NULL, status text NOT NULL DEFAULT 'placed')`);

  // Orders listens to inventory's log: its status update and the checkpoint commit together.
  inventoryLog.subscribe({
    name: 'orders.track-reservations',
    async handle(event, _meta, { tx }) {
      if (StockReserved.is(event) || StockShortage.is(event)) {
        const status = StockReserved.is(event) ? 'confirmed' : 'rejected';
        await tx.query('UPDATE example_orders.orders SET status = $2 WHERE id = $1', [event.data.orderId, status]);
        say(`orders:    order ${event.data.orderId} ${status}`);
      }
    },
  });

  return {
    /** Places an order: the row and the OrderPlaced event commit in one transaction. */
    async placeOrder(orderId: string, sku: string, quantity: number) {
      say(`orders:    placing order ${orderId} (${quantity} x ${sku})`);
      await orders.transaction(async (tx) => {
        await tx.query('INSERT INTO example_orders.orders (id, sku, quantity) VALUES ($1, $2, $3)', [orderId, sku, quantity]);
        await orders.append(tx, `order-${orderId}`, OrderPlaced.create({ orderId, sku, quantity }), {
          expectedVersion: 'noStream',
          // Wait until inventory's strongly consistent subscription has reserved the stock.
          consistency: 'strong',
        });
      });
    },
    async statusOf(orderId: string): Promise<string | undefined> {
      const { rows } = await pool.query('SELECT status FROM example_orders.orders WHERE id = $1', [orderId]);
      return rows[0]?.status;
    },
  };
}
