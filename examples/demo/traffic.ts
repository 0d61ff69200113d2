/**
 * The traffic generator: N orders at a rate, the same ones for the same seed. Failures are by
 * design and by position, so every run shows them: every 7th order's card is declined, every
 * 13th order's payment is never answered (the saga's deadline compensates), and every 11th
 * customer's address has no postcode (its shipping label is parked).
 */
import type { Address, Card } from './events.js';
import { CATALOGUE } from './inventory.js';
import type { NewOrder } from './orders.js';

export const DECLINED_EVERY = 7;
export const UNANSWERED_EVERY = 13;
export const MALFORMED_LABEL_EVERY = 11;

/** A small seeded generator (mulberry32): the same seed gives the same numbers. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NAMES = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Frances', 'Ken', 'Margaret', 'Niklaus'];
const CITIES = ['Lyon', 'Gent', 'Porto', 'Basel', 'Turku', 'Leeds'];

/** The card of the `n`th order (1-based). */
export function cardOf(n: number): Card {
  if (n % DECLINED_EVERY === 0) return 'declined';
  return n % UNANSWERED_EVERY === 0 ? 'unanswered' : 'ok';
}

/** The orders of a run, in order: `o-001`, `o-002`, … */
export function planOrders(count: number, seed: number): NewOrder[] {
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const width = Math.max(3, String(count).length);
  return Array.from({ length: count }, (_, i) => {
    const n = i + 1;
    const item = pick(CATALOGUE);
    const quantity = 1 + Math.floor(random() * 3);
    const address: Address = {
      name: pick(NAMES),
      street: `${1 + Math.floor(random() * 99)} Demo Street`,
      city: pick(CITIES),
      postcode: n % MALFORMED_LABEL_EVERY === 0 ? '' : String(10000 + Math.floor(random() * 89999)),
    };
    return { orderId: `o-${String(n).padStart(width, '0')}`, sku: item.sku, quantity, amountCents: item.priceCents * quantity, card: cardOf(n), address };
  });
}

/**
 * When each order is due, in ms after the traffic starts: gaps from 0.5 to 1.5 times the mean
 * (seeded), which keeps the average rate and looks like traffic.
 */
export function schedule(count: number, rate: number, seed: number): number[] {
  const random = seededRandom(seed ^ 0x5eed);
  const due: number[] = [];
  for (let i = 0, at = 0; i < count; i++, at += (1000 / rate) * (0.5 + random())) due.push(at);
  return due;
}

export interface TrafficOptions {
  /** Orders per second (on average: the gaps are jittered, seeded). */
  readonly rate: number;
  readonly seed: number;
  /** Stops placing orders when aborted. */
  readonly signal?: AbortSignal;
  /** Orders placed at once at most, when placing falls behind the rate. Default 16. */
  readonly inFlight?: number;
}

/**
 * Places `orders` at the rate; resolves with the ids of the orders that were placed (committed),
 * once every placement settled. A failed placement is reported and not counted as placed.
 */
export async function runTraffic(orders: readonly NewOrder[], place: (order: NewOrder) => Promise<void>, options: TrafficOptions): Promise<{ placed: string[]; failed: { orderId: string; error: unknown }[] }> {
  const due = schedule(orders.length, options.rate, options.seed);
  const placed: string[] = [];
  const failed: { orderId: string; error: unknown }[] = [];
  const running = new Set<Promise<void>>();
  const started = Date.now();
  for (const [i, order] of orders.entries()) {
    if (options.signal?.aborted) break;
    await sleep(started + due[i]! - Date.now(), options.signal);
    while (running.size >= (options.inFlight ?? 16)) await Promise.race(running);
    const placing = place(order).then(
      () => void placed.push(order.orderId),
      (error: unknown) => void failed.push({ orderId: order.orderId, error }),
    );
    running.add(placing);
    void placing.finally(() => running.delete(placing));
  }
  await Promise.all(running);
  return { placed, failed };
}

/** Resolves after `ms` (at once if not positive), or when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
