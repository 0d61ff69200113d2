/**
 * The demo's four contexts on one database: one Herald (log) per context in its own schema, the
 * domain services over them, and the clean slate every run starts from.
 */
import type pg from 'pg';
import { createHerald, type Herald, type Logger } from '../../src/index.js';
import { quoteIdent } from '../../src/sql/index.js';
import { EVENTS } from './events.js';
import { CATALOGUE, InventoryService, inventoryTables } from './inventory.js';
import { OrdersService, ordersTables } from './orders.js';
import { PaymentsService, paymentsTables } from './payments.js';
import { ShippingService, shippingTables } from './shipping.js';
import { appliedTable, CONTEXTS, type ContextKey, contextNames, type ContextNames } from './shared.js';

export interface WorldOptions {
  /** Prepended to every context (schema) name. */
  readonly prefix: string;
  /** Takeover bound after a crash: short in the chaos run. */
  readonly leaseTtlMs?: number;
  readonly pollMs?: number;
  /** `false` in a process that only appends (the chaos supervisor): the workers sequence the logs. */
  readonly sequencer?: boolean;
  readonly logger?: Logger;
  /** This process's name in leases (status shows it as the holder). */
  readonly processId?: string;
}

export interface World {
  readonly pool: pg.Pool;
  readonly names: ContextNames;
  readonly logs: Readonly<Record<ContextKey, Herald>>;
  readonly orders: OrdersService;
  readonly inventory: InventoryService;
  readonly payments: PaymentsService;
  readonly shipping: ShippingService;
}

/** Creates the Heralds and services (nothing touches the database yet). */
export function createWorld(pool: pg.Pool, options: WorldOptions): World {
  const names = contextNames(options.prefix);
  const logs = Object.fromEntries(
    CONTEXTS.map((key) => [
      key,
      createHerald({
        pool,
        context: names[key],
        events: [...EVENTS[key]],
        leaseTtlMs: options.leaseTtlMs,
        pollMs: options.pollMs,
        sequencer: options.sequencer,
        logger: options.logger,
        processId: options.processId,
      }),
    ]),
  ) as Record<ContextKey, Herald>;
  const schema = (key: ContextKey) => quoteIdent(names[key]);
  return {
    pool,
    names,
    logs,
    orders: new OrdersService(logs.orders, schema('orders')),
    inventory: new InventoryService(logs.inventory, schema('inventory')),
    payments: new PaymentsService(logs.payments, schema('payments')),
    shipping: new ShippingService(logs.shipping, schema('shipping')),
  };
}

const TABLES: Record<ContextKey, (schema: string) => string> = {
  orders: ordersTables,
  inventory: inventoryTables,
  payments: paymentsTables,
  shipping: shippingTables,
};

/** Drops the demo's schemas and creates them again: each context's log, its own tables, the starting stock. */
export async function resetWorld(world: World): Promise<void> {
  await world.pool.query(CONTEXTS.map((key) => `DROP SCHEMA IF EXISTS ${quoteIdent(world.names[key])} CASCADE`).join('; '));
  for (const key of CONTEXTS) {
    await world.logs[key].migrate();
    const s = quoteIdent(world.names[key]);
    await world.pool.query(`${TABLES[key](s)}; ${appliedTable(s)}`);
  }
  for (const item of CATALOGUE) await world.inventory.restock(item.sku, item.stock);
}
