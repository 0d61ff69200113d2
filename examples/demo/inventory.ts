/**
 * The inventory context, in the functional style: a stock decider (`decide`, `evolve`, initial
 * state) per stock keeping unit. Its state lives in the context's own `stock` table (a state
 * store), written in the transaction that appends the events, and the `reservations` table says
 * which order holds what (one row per order: a second reservation could not be written).
 */
import { type Decider, deciderRepository, type DeciderRepository, type Herald, type NewEvent, type SqlExecutor } from '../../src/index.js';
import { ReleaseStock, ReserveStock, StockAdded, StockReleased, StockReserved, StockShortage } from './events.js';
import { causedBy, type Handler } from './shared.js';

/** What the shop sells, at what price, and the stock the demo starts with. */
export const CATALOGUE = [
  { sku: 'tea', priceCents: 450, stock: 1000 },
  { sku: 'coffee', priceCents: 899, stock: 1000 },
  { sku: 'mug', priceCents: 1200, stock: 1000 },
  { sku: 'kettle', priceCents: 3490, stock: 1000 },
] as const;

export interface Stock {
  readonly available: number;
}

export type StockCommand =
  | { readonly type: 'restock'; readonly sku: string; readonly quantity: number }
  | { readonly type: 'reserve'; readonly sku: string; readonly orderId: string; readonly quantity: number }
  | { readonly type: 'release'; readonly sku: string; readonly orderId: string; readonly quantity: number };

/** Pure: what a command means for a SKU's stock. */
export const stock: Decider<StockCommand, Stock> = {
  initialState: { available: 0 },
  decide(command, state): NewEvent[] {
    const { sku } = command;
    if (command.type === 'restock') return [StockAdded.create({ sku, quantity: command.quantity })];
    const { orderId, quantity } = command;
    if (command.type === 'release') return [StockReleased.create({ orderId, sku, quantity })];
    return state.available >= quantity
      ? [StockReserved.create({ orderId, sku, quantity })]
      : [StockShortage.create({ orderId, sku, requested: quantity, available: state.available })];
  },
  evolve(state, event) {
    const { quantity } = event.data as { quantity?: number };
    if (event.type === 'StockAdded' || event.type === 'StockReleased') return { available: state.available + quantity! };
    if (event.type === 'StockReserved') return { available: state.available - quantity! };
    return state;
  },
};

export function inventoryTables(s: string): string {
  return `CREATE TABLE ${s}.stock (sku text PRIMARY KEY, available int NOT NULL CHECK (available >= 0), version int NOT NULL);
    CREATE TABLE ${s}.reservations (order_id text PRIMARY KEY, sku text NOT NULL, quantity int NOT NULL, released_at timestamptz)`;
}

export class InventoryService {
  private readonly skus: DeciderRepository<StockCommand, Stock>;

  constructor(
    readonly log: Herald,
    private readonly schema: string,
  ) {
    this.skus = deciderRepository(log, {
      stream: (sku) => `sku-${sku}`,
      decider: stock,
      state: {
        // The row lock makes concurrent commands for one SKU wait for each other instead of conflicting.
        load: async (tx, sku) => {
          const { rows } = await tx.query<{ available: number; version: number }>(`SELECT available, version FROM ${schema}.stock WHERE sku = $1 FOR UPDATE`, [sku]);
          return rows[0] && { state: { available: rows[0].available }, version: rows[0].version };
        },
        save: async (tx, sku, state, version) => {
          await tx.query(
            `INSERT INTO ${schema}.stock (sku, available, version) VALUES ($1, $2, $3)
             ON CONFLICT (sku) DO UPDATE SET available = excluded.available, version = excluded.version`,
            [sku, state.available, version],
          );
        },
      },
    });
  }

  /** Adds stock (the demo's starting stock), in its own transaction. */
  async restock(sku: string, quantity: number): Promise<void> {
    await this.skus.execute(sku, { type: 'restock', sku, quantity });
  }

  /** The commands inventory takes from the order saga. */
  handlers(): Record<string, Handler> {
    return {
      [ReserveStock.type]: async (event, tx) => {
        const { orderId, sku, quantity } = event.data as { orderId: string; sku: string; quantity: number };
        const { events } = await this.skus.execute(sku, { type: 'reserve', sku, orderId, quantity }, { tx, ...causedBy(event) });
        if (events[0]?.type === StockReserved.type) await this.hold(tx, orderId, sku, quantity);
      },
      [ReleaseStock.type]: async (event, tx) => {
        const { orderId, sku, quantity } = event.data as { orderId: string; sku: string; quantity: number };
        // Only what this order still holds goes back on the shelf.
        const { rows } = await tx.query(`UPDATE ${this.schema}.reservations SET released_at = now() WHERE order_id = $1 AND released_at IS NULL RETURNING order_id`, [orderId]);
        if (rows.length > 0) await this.skus.execute(sku, { type: 'release', sku, orderId, quantity }, { tx, ...causedBy(event) });
      },
    };
  }

  private async hold(tx: SqlExecutor, orderId: string, sku: string, quantity: number): Promise<void> {
    await tx.query(`INSERT INTO ${this.schema}.reservations (order_id, sku, quantity) VALUES ($1, $2, $3)`, [orderId, sku, quantity]);
  }
}
