import type pg from 'pg';
import { createHerald, type Herald } from '../../src/index.js';
import { OrderPlaced, StockReserved, StockShortage } from './events.js';
import { inventoryContext } from './inventory.js';
import { ordersContext } from './orders.js';

/**
 * Two bounded contexts in one database, each in its own schema with its own log:
 * orders publishes OrderPlaced; inventory reserves stock and publishes StockReserved or
 * StockShortage; orders confirms or rejects the order. Returns the final order statuses.
 */
export async function runExample(pool: pg.Pool, say: (line: string) => void): Promise<Record<string, string | undefined>> {
  // Start from a clean slate on every run.
  await pool.query('DROP SCHEMA IF EXISTS example_orders CASCADE; DROP SCHEMA IF EXISTS example_inventory CASCADE');
  // Each context's log is a Herald; the subscriptions of a log are registered on it.
  const ordersLog = createHerald({ pool, context: 'example_orders', events: [OrderPlaced] });
  const inventoryLog = createHerald({ pool, context: 'example_inventory', events: [StockReserved, StockShortage] });
  const inventory = await inventoryContext(pool, say, inventoryLog, ordersLog);
  const orders = await ordersContext(pool, say, ordersLog, inventoryLog);
  await inventory.restock('widget', 5);

  await ordersLog.start();
  await inventoryLog.start();
  try {
    await orders.placeOrder('o-1', 'widget', 2);
    await orders.placeOrder('o-2', 'widget', 2);
    await orders.placeOrder('o-3', 'widget', 2);
    // Orders hears back from inventory eventually: wait until both logs are fully handled.
    await waitUntil(async () => (await caughtUp(ordersLog)) && (await caughtUp(inventoryLog)));

    for (const log of [ordersLog, inventoryLog]) {
      const status = await log.status();
      for (const s of status.subscriptions) {
        say(`status:    ${status.context} log head ${status.head}; ${s.name}: position ${s.position}, lag ${s.lag}, ${s.state}`);
      }
    }
    return { 'o-1': await orders.statusOf('o-1'), 'o-2': await orders.statusOf('o-2'), 'o-3': await orders.statusOf('o-3') };
  } finally {
    await ordersLog.stop();
    await inventoryLog.stop();
  }
}

async function caughtUp(log: Herald): Promise<boolean> {
  const status = await log.status();
  return status.unsequenced === 0 && status.subscriptions.every((s) => s.lag === 0);
}

async function waitUntil(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('example: timed out waiting for the subscriptions');
    await new Promise((r) => setTimeout(r, 20));
  }
}
