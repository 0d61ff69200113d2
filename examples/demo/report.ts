/**
 * The end of a run: waiting until every order is finished, then what is worth showing — the
 * compensated orders, the parked events and how to see them with the `herald` command, each log's
 * status, the summary and the ledger.
 */
import { quoteIdent } from '../../src/sql/index.js';
import { type Ledger, readLedger } from './ledger.js';
import { ORDER_SAGA } from './saga.js';
import { CONTEXTS } from './shared.js';
import { LABEL_PRINTER } from './shipping.js';
import { sleep } from './traffic.js';
import type { World } from './world.js';

export type Say = (line: string) => void;

/** A parked event or consumer message, in any of the four contexts. */
export interface ParkedItem {
  readonly context: string;
  /** Subscription or consumer. */
  readonly by: string;
  readonly eventType: string;
  readonly streamId: string;
  readonly reason: string | null;
}

export async function parkedItems(world: World): Promise<ParkedItem[]> {
  const items: ParkedItem[] = [];
  for (const key of CONTEXTS) {
    const log = world.logs[key];
    for (const p of await log.parked.list({ status: 'parked' })) {
      items.push({ context: log.context, by: p.subscription, eventType: p.eventType, streamId: p.streamId, reason: p.reason });
    }
    for (const m of await log.parkedMessages.list({ status: 'parked' })) {
      items.push({ context: log.context, by: m.consumer, eventType: m.eventType ?? '?', streamId: m.streamId ?? '?', reason: m.reason });
    }
  }
  return items;
}

/** Every label was printed or parked (the printer retries a malformed one once first). */
async function labelsSettled(world: World): Promise<boolean> {
  const s = quoteIdent(world.names.shipping);
  const { rows } = await world.pool.query<{ shipped: number; printed: number }>(
    `SELECT (SELECT count(*)::int FROM ${s}.shipments) AS shipped, (SELECT count(*)::int FROM ${s}.labels) AS printed`,
  );
  const parked = await world.logs.shipping.parked.list({ subscription: LABEL_PRINTER, status: 'parked' });
  return rows[0]!.shipped === rows[0]!.printed + parked.length;
}

/**
 * Waits until every placed order is finished and consistent, every message applied and every
 * label printed or parked; or until `timeoutMs`, then the ledger shows what is missing.
 */
export async function waitUntilSettled(world: World, placed: readonly string[], options: { timeoutMs: number; signal?: AbortSignal }): Promise<Ledger> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const ledger = await readLedger(world, placed);
    const done = ledger.lost === 0 && ledger.orders === placed.length && (await labelsSettled(world));
    if (done || Date.now() > deadline || options.signal?.aborted) return ledger;
    await sleep(200, options.signal);
  }
}

/**
 * Says every `everyMs` how many orders are placed, completed and compensated (from the orders
 * table), prefixed by the time since `started`; returns the function that stops it.
 */
export function progressTicker(world: World, say: Say, started: number, everyMs: number): () => void {
  const timer = setInterval(() => {
    world.pool
      .query<{ placed: number; completed: number; compensated: number }>(
        `SELECT count(*)::int AS placed, count(*) FILTER (WHERE status = 'completed')::int AS completed,
                count(*) FILTER (WHERE status = 'cancelled')::int AS compensated
           FROM ${quoteIdent(world.names.orders)}.orders`,
      )
      .then(
        ({ rows: [p] }) => say(`${elapsed(started)}:   ${p!.placed} placed, ${p!.completed} completed, ${p!.compensated} compensated`),
        () => {},
      );
  }, everyMs);
  return () => clearInterval(timer);
}

/** `  4.2 s`: the time since `started`, right-aligned. */
export function elapsed(started: number): string {
  return `${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s`;
}

/** One line per compensated order: why, and what was undone. */
export async function compensationLines(world: World): Promise<string[]> {
  const n = world.names;
  const { rows } = await world.pool.query<{ id: string; reason: string; released: boolean; payment: string | null }>(
    `SELECT o.id, o.reason, r.released_at IS NOT NULL AS released, p.status AS payment
       FROM ${quoteIdent(n.orders)}.orders o
       LEFT JOIN ${quoteIdent(n.inventory)}.reservations r ON r.order_id = o.id
       LEFT JOIN ${quoteIdent(n.payments)}.payments p ON p.order_id = o.id
      WHERE o.status = 'cancelled' ORDER BY o.id`,
  );
  const payment: Record<string, string> = { refunded: 'payment refunded', voided: 'payment voided', failed: 'nothing charged' };
  return rows.map((r) => {
    const undone = [r.released ? 'stock released' : 'no stock held', payment[r.payment ?? ''] ?? `payment ${r.payment ?? 'never asked'}`, 'order cancelled'];
    return `  ${r.id}  ${r.reason}: ${undone.join(', ')}`;
  });
}

/** Compensations by reason: `4 card declined, 2 payment deadline passed`. */
export async function compensationReasons(world: World): Promise<string> {
  const { rows } = await world.pool.query<{ reason: string; n: number }>(
    `SELECT reason, count(*)::int AS n FROM ${quoteIdent(world.names.orders)}.orders WHERE status = 'cancelled' GROUP BY reason ORDER BY n DESC, reason`,
  );
  return rows.map((r) => `${r.n} ${r.reason}`).join(', ');
}

/** One status line per log: its head and its subscriptions' (and relays') positions. */
export async function statusLines(world: World): Promise<string[]> {
  const lines: string[] = [];
  for (const key of CONTEXTS) {
    const status = await world.logs[key].status();
    const subs = status.subscriptions.map((s) => `${s.name} ${s.state} lag ${s.lag}${s.parked ? `, ${s.parked} parked` : ''}`);
    // Consumers of other contexts' events (with a broker): what this process handled, and dropped as duplicates.
    const consumers = status.consumers.map((c) => `${c.name} consumer handled ${c.handled}, duplicates dropped ${c.duplicates}`);
    lines.push(`  ${status.context.padEnd(world.names.inventory.length)}  head ${String(status.head).padStart(4)}; ${[...subs, ...consumers].join('; ')}`);
  }
  return lines;
}

/** How to look at the demo's contexts with the `herald` command (its config file names them). */
export function heraldCommand(world: World, args: string): string {
  const env = world.names.orders === 'demo_orders' ? '' : `HERALD_DEMO_PREFIX=${world.names.orders.slice(0, -'orders'.length)} `;
  return `${env}npm run herald -- ${args} --config examples/demo/herald.config.ts`;
}

/** The parked events, and the commands that show them and one compensated saga. */
export async function parkedLines(world: World, parked: readonly ParkedItem[]): Promise<string[]> {
  if (parked.length === 0) return ['parked:    nothing'];
  const groups = new Map<string, ParkedItem[]>();
  for (const p of parked) groups.set(`${p.context} ${p.by}`, [...(groups.get(`${p.context} ${p.by}`) ?? []), p]);
  const lines: string[] = [];
  for (const [, items] of groups) {
    const first = items[0]!;
    lines.push(`parked:    ${items.length} ${first.eventType} event${items.length === 1 ? '' : 's'} in ${first.context} (${first.by}): ${first.reason}`);
    lines.push(`           ${items.map((p) => p.streamId).join(', ')}`);
  }
  const context = parked.find((p) => p.by === LABEL_PRINTER)?.context ?? parked[0]!.context;
  lines.push(`see them:  ${heraldCommand(world, `parked list --context ${context}`)}`);
  const { rows } = await world.pool.query<{ key: string }>(
    `SELECT key FROM ${quoteIdent(world.names.orders)}.saga_instances WHERE saga = $1 AND status = 'compensated' ORDER BY key LIMIT 1`,
    [ORDER_SAGA],
  );
  if (rows[0]) lines.push(`a saga:    ${heraldCommand(world, `sagas show ${ORDER_SAGA} ${rows[0].key} --context ${world.names.orders}`)}`);
  return lines;
}
