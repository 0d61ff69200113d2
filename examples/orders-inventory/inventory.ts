import type pg from 'pg';
import type { Herald } from '../../src/index.js';
import { OrderPlaced, StockReserved, StockShortage } from './events.js';

/** The inventory context: reserves stock when an order is placed, and says whether it could. */
export async function inventoryContext(pool: pg.Pool, say: (line: string) => void, inventory: Herald, ordersLog: Herald) {
  await inventory.migrate();
  await pool.query('CREATE TABLE IF NOT EXISTS example_inventory.stock (sku text PRIMARY KEY, available int NOT NULL)');

  ordersLog.subscribe({
    name: 'inventory.reserve-stock',
    consistency: 'strong',
    async handle(event, meta, { tx }) {
      if (!OrderPlaced.is(event)) return;
      const { orderId, sku, quantity } = event.data;
      // Reserve and publish the outcome in the same transaction as the checkpoint: exactly once.
      const { rows } = await tx.query<{ available: number }>(
        'UPDATE example_inventory.stock SET available = available - $2 WHERE sku = $1 AND available >= $2 RETURNING available',
        [sku, quantity],
      );
      const caused = { causationId: meta.eventId, correlationId: meta.correlationId ?? meta.eventId };
      if (rows[0]) {
        await inventory.append(tx, `stock-${sku}`, StockReserved.create({ orderId, sku, quantity }, caused));
        say(`inventory: reserved ${quantity} x ${sku} for order ${orderId} (${rows[0].available} left)`);
      } else {
        const stock = await tx.query<{ available: number }>('SELECT available FROM example_inventory.stock WHERE sku = $1', [sku]);
        const available = stock.rows[0]?.available ?? 0;
        await inventory.append(tx, `stock-${sku}`, StockShortage.create({ orderId, sku, requested: quantity, available }, caused));
        say(`inventory: cannot reserve ${quantity} x ${sku} for order ${orderId} (only ${available} left)`);
      }
    },
  });

  return {
    async restock(sku: string, available: number) {
      await pool.query(
        'INSERT INTO example_inventory.stock VALUES ($1, $2) ON CONFLICT (sku) DO UPDATE SET available = EXCLUDED.available',
        [sku, available],
      );
    },
  };
}
