/**
 * The order saga (a process manager in the orders context), one instance per order:
 *
 *   OrderPlaced   → ReserveStock (to inventory)
 *   StockReserved → TakePayment (to payments), and a durable payment deadline
 *   PaymentTaken  → ShipOrder (to shipping)
 *   Shipped       → the order completes
 *
 * A declined payment, a shortage or the deadline compensates: the stock is released, the payment
 * voided (refunded if it was taken after all) and the order cancelled. Everything it appends
 * commits with its state and the delivery's checkpoint or inbox.
 */
import type { SagaContext, SagaDefinition, SagaEvent } from '../../src/sagas/index.js';
import { type Address, type Card, ReleaseStock, ReserveStock, ShipOrder, TakePayment, VoidPayment } from './events.js';
import type { OrdersService } from './orders.js';
import { causedBy } from './shared.js';

export const ORDER_SAGA = 'order';
export const PAYMENT_DEADLINE = 'payment-deadline';

export interface OrderSagaState {
  readonly stage: 'reserving' | 'paying' | 'shipping' | 'done';
  readonly sku: string;
  readonly quantity: number;
  readonly amountCents: number;
  readonly card: Card;
  readonly address: Address;
}

/** The stream of the commands for one context about one order (in the orders log). */
export function commandStream(to: 'inventory' | 'payments' | 'shipping', orderId: string): string {
  return `to-${to}:${orderId}`;
}

const orderIdOf = (event: SagaEvent): string | undefined => (event.data as { orderId?: string }).orderId;

export function orderSaga(orders: OrdersService, paymentDeadlineMs: number): SagaDefinition<OrderSagaState> {
  /** Compensates (the done steps' compensations, latest first) and cancels the order, in the saga's transaction. */
  const giveUp = async (state: OrderSagaState, ctx: SagaContext, reason: string, cause?: SagaEvent): Promise<OrderSagaState> => {
    await ctx.compensate(reason);
    await orders.cancel(ctx.tx, ctx.key, reason, cause ? causedBy(cause) : { correlationId: ctx.key });
    return { ...state, stage: 'done' };
  };

  return {
    name: ORDER_SAGA,
    initialState: () => ({ stage: 'reserving', sku: '', quantity: 0, amountCents: 0, card: 'ok', address: { name: '', street: '', city: '', postcode: '' } }),
    on: {
      OrderPlaced: {
        starts: true,
        key: orderIdOf,
        async handle(_state, event, ctx) {
          const order = event.data as Omit<OrderSagaState, 'stage'> & { orderId: string };
          await ctx.append(commandStream('inventory', order.orderId), ReserveStock.create({ orderId: order.orderId, sku: order.sku, quantity: order.quantity }));
          return { stage: 'reserving', sku: order.sku, quantity: order.quantity, amountCents: order.amountCents, card: order.card, address: order.address };
        },
      },
      StockReserved: {
        key: orderIdOf,
        async handle(state, _event, ctx) {
          ctx.done('reserve');
          await ctx.append(commandStream('payments', ctx.key), TakePayment.create({ orderId: ctx.key, amountCents: state.amountCents, card: state.card }));
          // From here a compensation voids the payment, whatever the gateway answers and when.
          ctx.done('payment');
          ctx.schedule(PAYMENT_DEADLINE, { ms: paymentDeadlineMs });
          return { ...state, stage: 'paying' };
        },
      },
      StockShortage: { key: orderIdOf, handle: (state, event, ctx) => giveUp(state, ctx, 'out of stock', event) },
      PaymentTaken: {
        key: orderIdOf,
        async handle(state, _event, ctx) {
          ctx.cancel(PAYMENT_DEADLINE);
          await ctx.append(commandStream('shipping', ctx.key), ShipOrder.create({ orderId: ctx.key, address: state.address }));
          return { ...state, stage: 'shipping' };
        },
      },
      PaymentFailed: { key: orderIdOf, handle: (state, event, ctx) => giveUp(state, ctx, (event.data as { reason: string }).reason, event) },
      Shipped: {
        key: orderIdOf,
        async handle(state, event, ctx) {
          await orders.complete(ctx.tx, ctx.key, causedBy(event));
          ctx.complete();
          return { ...state, stage: 'done' };
        },
      },
    },
    timeouts: {
      // A deadline that fired just before the answer cancelled it arrives after the answer: ignore it then.
      [PAYMENT_DEADLINE]: (state, _data, ctx) => (state.stage === 'paying' ? giveUp(state, ctx, 'payment deadline passed') : state),
    },
    compensations: {
      reserve: async (state, ctx) => {
        await ctx.append(commandStream('inventory', ctx.key), ReleaseStock.create({ orderId: ctx.key, sku: state.sku, quantity: state.quantity }));
      },
      payment: async (_state, ctx) => {
        await ctx.append(commandStream('payments', ctx.key), VoidPayment.create({ orderId: ctx.key }));
      },
    },
  };
}
