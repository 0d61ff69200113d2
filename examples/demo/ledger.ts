/**
 * The ledger: what the databases say happened, from each context's own tables, its log and the
 * saga instances. An order is accounted for when it reached a final state that every context
 * agrees on; a message is delivered when the context it was for applied it. Anything else is lost.
 * Anything applied or recorded twice is a duplicate (the tables' unique constraints refuse the
 * obvious ones; these counts would show the rest).
 */
import { quoteIdent } from '../../src/sql/index.js';
import { CATALOGUE } from './inventory.js';
import { ORDER_SAGA } from './saga.js';
import type { ContextNames } from './shared.js';
import type { World } from './world.js';

export interface Ledger {
  readonly orders: number;
  readonly completed: number;
  /** Reservations still held (compensation released the others). */
  readonly reserved: number;
  /** Payments taken and kept (not refunded). */
  readonly paid: number;
  readonly shipped: number;
  readonly compensated: number;
  readonly lost: number;
  readonly duplicates: number;
  readonly problems: readonly string[];
}

/** The one line the chaos run is judged by. */
export function ledgerLine(l: Ledger): string {
  return `ledger: orders ${l.orders}, reserved ${l.reserved}, paid ${l.paid}, shipped ${l.shipped}, compensated ${l.compensated}, lost ${l.lost}, duplicates ${l.duplicates}`;
}

interface OrderRow {
  id: string;
  status: string;
  saga: string | null;
  held: boolean;
  payment: string | null;
  shipped: boolean;
}

/** Whether every context agrees on the order's final state. */
function settled(o: OrderRow): boolean {
  if (o.status === 'completed') return o.saga === 'completed' && o.held && o.payment === 'taken' && o.shipped;
  if (o.status === 'cancelled') return o.saga === 'compensated' && !o.held && o.payment !== 'taken' && o.payment !== 'pending' && !o.shipped;
  return false;
}

/** Messages for each context (by the log they are in and their types), and where their application is recorded. */
function deliveries(n: ContextNames): { log: string; types: string[]; applied: string }[] {
  return [
    { log: n.orders, types: ['ReserveStock', 'ReleaseStock'], applied: n.inventory },
    { log: n.orders, types: ['TakePayment', 'VoidPayment'], applied: n.payments },
    { log: n.orders, types: ['ShipOrder'], applied: n.shipping },
    { log: n.inventory, types: ['StockReserved', 'StockShortage'], applied: n.orders },
    { log: n.payments, types: ['PaymentTaken', 'PaymentFailed'], applied: n.orders },
    { log: n.shipping, types: ['Shipped'], applied: n.orders },
  ];
}

/** Event types that may occur once per order in their log. */
const ONCE_PER_ORDER: readonly (readonly [keyof ContextNames, readonly string[]])[] = [
  ['orders', ['OrderPlaced', 'OrderCompleted', 'OrderCancelled', 'ReserveStock', 'ReleaseStock', 'TakePayment', 'VoidPayment', 'ShipOrder']],
  ['inventory', ['StockReserved', 'StockShortage', 'StockReleased']],
  ['payments', ['PaymentTaken', 'PaymentFailed', 'PaymentPending', 'PaymentRefunded', 'PaymentVoided']],
  ['shipping', ['Shipped', 'LabelRequested']],
];

/** Reads the ledger; `placed` are the order ids the traffic generator saw committed. */
export async function readLedger(world: World, placed: readonly string[]): Promise<Ledger> {
  const n = world.names;
  const q = (key: keyof ContextNames) => quoteIdent(n[key]);
  const count = async (sql: string, values: unknown[] = []) => Number((await world.pool.query<{ n: string }>(sql, values)).rows[0]?.n ?? 0);
  const problems: string[] = [];

  const { rows } = await world.pool.query<OrderRow>(
    `SELECT o.id, o.status, i.status AS saga, (r.order_id IS NOT NULL AND r.released_at IS NULL) AS held, p.status AS payment, (s.order_id IS NOT NULL) AS shipped
       FROM ${q('orders')}.orders o
       LEFT JOIN ${q('orders')}.saga_instances i ON i.saga = $1 AND i.key = o.id
       LEFT JOIN ${q('inventory')}.reservations r ON r.order_id = o.id
       LEFT JOIN ${q('payments')}.payments p ON p.order_id = o.id
       LEFT JOIN ${q('shipping')}.shipments s ON s.order_id = o.id
      ORDER BY o.id`,
    [ORDER_SAGA],
  );
  const known = new Set(rows.map((r) => r.id));
  const missing = placed.filter((id) => !known.has(id));
  const unsettled = rows.filter((r) => !settled(r));
  if (missing.length > 0) problems.push(`orders placed but not in the orders table: ${missing.slice(0, 5).join(', ')}`);
  if (unsettled.length > 0) problems.push(`orders not in a final state all contexts agree on: ${unsettled.slice(0, 5).map((o) => `${o.id} (${o.status}, saga ${o.saga}, payment ${o.payment})`).join(', ')}`);

  let undelivered = 0;
  for (const d of deliveries(n)) {
    const sent = await count(`SELECT count(*) AS n FROM ${quoteIdent(d.log)}.events WHERE event_type = ANY($1)`, [d.types]);
    const applied = await count(`SELECT count(DISTINCT message_id) AS n FROM ${quoteIdent(d.applied)}.applied WHERE type = ANY($1)`, [d.types]);
    if (sent !== applied) problems.push(`${d.types.join('/')}: ${sent} sent, ${applied} applied`);
    undelivered += Math.max(0, sent - applied);
  }

  let duplicates = 0;
  for (const key of ['orders', 'inventory', 'payments', 'shipping'] as const) {
    const twice = await count(`SELECT count(*) - count(DISTINCT message_id) AS n FROM ${q(key)}.applied`);
    if (twice > 0) problems.push(`${n[key]}: ${twice} messages applied twice`);
    duplicates += twice;
  }
  for (const [key, types] of ONCE_PER_ORDER) {
    const extra = await count(
      `SELECT coalesce(sum(c - 1), 0) AS n FROM (SELECT count(*) AS c FROM ${q(key)}.events WHERE event_type = ANY($1) GROUP BY event_type, data->>'orderId') x`,
      [types],
    );
    if (extra > 0) problems.push(`${n[key]}: ${extra} events recorded twice for one order`);
    duplicates += extra;
  }

  // Stock: what left the shelves is exactly what the orders still hold. A reservation or a release
  // applied to the stock twice would move it off by its quantity.
  const available = await count(`SELECT coalesce(sum(available), 0) AS n FROM ${q('inventory')}.stock`);
  const held = await count(`SELECT coalesce(sum(quantity), 0) AS n FROM ${q('inventory')}.reservations WHERE released_at IS NULL`);
  const drift = CATALOGUE.reduce((sum, item) => sum + item.stock, 0) - held - available;
  if (drift !== 0) problems.push(`stock: ${drift > 0 ? `${drift} more taken than the orders hold` : `${-drift} more on the shelves than expected`}`);

  const by = (predicate: (o: OrderRow) => boolean) => rows.filter(predicate).length;
  return {
    orders: rows.length,
    completed: by((o) => o.status === 'completed'),
    reserved: by((o) => o.held),
    paid: by((o) => o.payment === 'taken'),
    shipped: by((o) => o.shipped),
    compensated: by((o) => o.status === 'cancelled'),
    lost: missing.length + unsettled.length + undelivered,
    duplicates: duplicates + Math.abs(drift),
    problems,
  };
}
