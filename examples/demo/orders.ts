/**
 * The orders context, in the object-oriented style: an `Order` aggregate root checks its rules
 * and raises events; the repository appends them, expecting the version it loaded, in the same
 * transaction that writes the `orders` table.
 */
import { randomUUID } from 'node:crypto';
import { AggregateRoot, type AnyEvent, aggregateRepository, type AggregateRepository, type Herald, type SqlExecutor } from '../../src/index.js';
import { type Address, type Card, OrderCancelled, OrderCompleted, OrderPlaced } from './events.js';

/** An order as the traffic generator places it. */
export interface NewOrder {
  readonly orderId: string;
  readonly sku: string;
  readonly quantity: number;
  readonly amountCents: number;
  readonly card: Card;
  readonly address: Address;
}

/** A command the order's state does not allow (a domain error, never retried). */
export class OrderRuleError extends Error {
  override readonly name = 'OrderRuleError';
}

export class Order extends AggregateRoot {
  status: 'new' | 'placed' | 'completed' | 'cancelled' = 'new';
  reason: string | null = null;

  place(order: NewOrder): void {
    if (this.status !== 'new') throw new OrderRuleError(`order ${this.id} is already ${this.status}`);
    this.raise(OrderPlaced.create({ ...order, orderId: this.id }));
  }

  complete(): void {
    if (this.status === 'completed') return;
    if (this.status !== 'placed') throw new OrderRuleError(`order ${this.id} is ${this.status}: it cannot complete`);
    this.raise(OrderCompleted.create({ orderId: this.id }));
  }

  cancel(reason: string): void {
    if (this.status === 'cancelled') return;
    if (this.status !== 'placed') throw new OrderRuleError(`order ${this.id} is ${this.status}: it cannot be cancelled`);
    this.raise(OrderCancelled.create({ orderId: this.id, reason }));
  }

  protected apply(event: AnyEvent): void {
    if (event.type === 'OrderPlaced') this.status = 'placed';
    else if (event.type === 'OrderCompleted') this.status = 'completed';
    else if (event.type === 'OrderCancelled') {
      this.status = 'cancelled';
      this.reason = (event.data as { reason: string }).reason;
    }
  }
}

/** The orders context's own table. */
export function ordersTables(s: string): string {
  return `CREATE TABLE ${s}.orders (
    id text PRIMARY KEY, sku text NOT NULL, quantity int NOT NULL, amount_cents int NOT NULL, card text NOT NULL,
    status text NOT NULL, reason text, placed_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now())`;
}

/** Where a change came from: the event that caused it, in its conversation. */
export interface Cause {
  readonly causationId?: string;
  readonly correlationId?: string;
}

export class OrdersService {
  private readonly orders: AggregateRepository<Order>;

  constructor(
    readonly log: Herald,
    private readonly schema: string,
  ) {
    this.orders = aggregateRepository(log, { stream: (id) => `order-${id}`, create: (id) => new Order(id) });
  }

  /** Places an order: the row and `OrderPlaced` commit together; the order id is the conversation's correlation id. */
  async place(order: NewOrder): Promise<void> {
    await this.orders.update(
      order.orderId,
      async (aggregate, tx) => {
        aggregate.place(order);
        await tx.query(`INSERT INTO ${this.schema}.orders (id, sku, quantity, amount_cents, card, status) VALUES ($1, $2, $3, $4, $5, $6)`, [
          order.orderId,
          order.sku,
          order.quantity,
          order.amountCents,
          order.card,
          aggregate.status,
        ]);
      },
      { commandId: randomUUID(), correlationId: order.orderId },
    );
  }

  /** Completes the order in `tx` (the saga's transaction). */
  complete(tx: SqlExecutor, orderId: string, cause: Cause): Promise<Order> {
    return this.change(tx, orderId, cause, (order) => order.complete());
  }

  /** Cancels the order in `tx` (the saga's transaction, when it compensates). */
  cancel(tx: SqlExecutor, orderId: string, reason: string, cause: Cause): Promise<Order> {
    return this.change(tx, orderId, cause, (order) => order.cancel(reason));
  }

  private change(tx: SqlExecutor, orderId: string, cause: Cause, work: (order: Order) => void): Promise<Order> {
    return this.orders.update(
      orderId,
      async (order) => {
        work(order);
        await tx.query(`UPDATE ${this.schema}.orders SET status = $2, reason = $3, updated_at = now() WHERE id = $1`, [orderId, order.status, order.reason]);
      },
      { tx, ...cause },
    );
  }
}
