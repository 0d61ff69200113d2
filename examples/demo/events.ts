/**
 * The demo's events, by the context whose log records them. Commands travel as events too: the
 * order saga appends them to the orders log, and the context they are for receives them like any
 * other event (a subscription on the orders log, or a broker consumer).
 */
import { z } from 'zod';
import { defineEvent } from '../../src/index.js';

const orderId = z.string().min(1);
const cents = z.number().int().nonnegative();
/** A test card: what the demo's payment gateway answers for it. */
export const Card = z.enum(['ok', 'declined', 'unanswered']);
export type Card = z.infer<typeof Card>;
/** A postal address; the label printer refuses one without a postcode (the demo's poison events). */
export const Address = z.object({ name: z.string(), street: z.string(), city: z.string(), postcode: z.string() });
export type Address = z.infer<typeof Address>;

// orders: the Order aggregate's events.
export const OrderPlaced = defineEvent(
  'OrderPlaced',
  z.object({ orderId, sku: z.string(), quantity: z.number().int().positive(), amountCents: cents, card: Card, address: Address }),
);
export const OrderCompleted = defineEvent('OrderCompleted', z.object({ orderId }));
export const OrderCancelled = defineEvent('OrderCancelled', z.object({ orderId, reason: z.string() }));

// orders: commands the order saga sends to the other contexts.
export const ReserveStock = defineEvent('ReserveStock', z.object({ orderId, sku: z.string(), quantity: z.number().int().positive() }));
export const ReleaseStock = defineEvent('ReleaseStock', z.object({ orderId, sku: z.string(), quantity: z.number().int().positive() }));
export const TakePayment = defineEvent('TakePayment', z.object({ orderId, amountCents: cents, card: Card }));
export const VoidPayment = defineEvent('VoidPayment', z.object({ orderId }));
export const ShipOrder = defineEvent('ShipOrder', z.object({ orderId, address: Address }));

// inventory: a stock keeping unit's events (the stock decider).
export const StockAdded = defineEvent('StockAdded', z.object({ sku: z.string(), quantity: z.number().int().positive() }));
export const StockReserved = defineEvent('StockReserved', z.object({ orderId, sku: z.string(), quantity: z.number().int().positive() }));
export const StockShortage = defineEvent('StockShortage', z.object({ orderId, sku: z.string(), requested: z.number().int(), available: z.number().int() }));
export const StockReleased = defineEvent('StockReleased', z.object({ orderId, sku: z.string(), quantity: z.number().int().positive() }));

// payments: an order's payment (the payment decider).
export const PaymentTaken = defineEvent('PaymentTaken', z.object({ orderId, amountCents: cents }));
export const PaymentFailed = defineEvent('PaymentFailed', z.object({ orderId, reason: z.string() }));
export const PaymentPending = defineEvent('PaymentPending', z.object({ orderId, reason: z.string() }));
export const PaymentRefunded = defineEvent('PaymentRefunded', z.object({ orderId, amountCents: cents }));
export const PaymentVoided = defineEvent('PaymentVoided', z.object({ orderId }));

// shipping: a shipment's events (the Shipment aggregate).
export const Shipped = defineEvent('Shipped', z.object({ orderId, trackingNumber: z.string() }));
export const LabelRequested = defineEvent('LabelRequested', z.object({ orderId, trackingNumber: z.string(), address: Address }));

/** The event types each context's log records (appends are validated against them). */
export const EVENTS = {
  orders: [OrderPlaced, OrderCompleted, OrderCancelled, ReserveStock, ReleaseStock, TakePayment, VoidPayment, ShipOrder],
  inventory: [StockAdded, StockReserved, StockShortage, StockReleased],
  payments: [PaymentTaken, PaymentFailed, PaymentPending, PaymentRefunded, PaymentVoided],
  shipping: [Shipped, LabelRequested],
} as const;
