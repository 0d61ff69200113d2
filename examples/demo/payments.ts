/**
 * The payments context: a payment decider per order, its state in the `payments` table (one row
 * per order), written with the events in one transaction. The demo's card gateway answers by the
 * test card: `declined` fails, `unanswered` never answers (the saga's deadline then compensates).
 */
import { type Decider, deciderRepository, type DeciderRepository, type Herald, type NewEvent } from '../../src/index.js';
import { type Card, PaymentFailed, PaymentPending, PaymentRefunded, PaymentTaken, PaymentVoided, TakePayment, VoidPayment } from './events.js';
import { causedBy, type Handler } from './shared.js';

export type PaymentStatus = 'none' | 'taken' | 'failed' | 'pending' | 'refunded' | 'voided';

export interface Payment {
  readonly status: PaymentStatus;
  readonly amountCents: number;
}

export type PaymentCommand =
  | { readonly type: 'take'; readonly orderId: string; readonly amountCents: number; readonly card: Card }
  | { readonly type: 'void'; readonly orderId: string };

/** Pure: an order is charged at most once; voiding refunds a taken payment and closes any other. */
export const payment: Decider<PaymentCommand, Payment> = {
  initialState: { status: 'none', amountCents: 0 },
  decide(command, state): NewEvent[] {
    const { orderId } = command;
    if (command.type === 'void') {
      if (state.status === 'taken') return [PaymentRefunded.create({ orderId, amountCents: state.amountCents })];
      return state.status === 'none' || state.status === 'pending' ? [PaymentVoided.create({ orderId })] : [];
    }
    if (state.status !== 'none') return []; // answered already, or voided first
    if (command.card === 'declined') return [PaymentFailed.create({ orderId, reason: 'card declined' })];
    if (command.card === 'unanswered') return [PaymentPending.create({ orderId, reason: 'the card gateway did not answer' })];
    return [PaymentTaken.create({ orderId, amountCents: command.amountCents })];
  },
  evolve(state, event) {
    const status: Partial<Record<string, PaymentStatus>> = {
      PaymentTaken: 'taken',
      PaymentFailed: 'failed',
      PaymentPending: 'pending',
      PaymentRefunded: 'refunded',
      PaymentVoided: 'voided',
    };
    const next = status[event.type];
    if (!next) return state;
    const { amountCents } = event.data as { amountCents?: number };
    return { status: next, amountCents: event.type === 'PaymentTaken' ? amountCents! : state.amountCents };
  },
};

export function paymentsTables(s: string): string {
  return `CREATE TABLE ${s}.payments (order_id text PRIMARY KEY, status text NOT NULL, amount_cents int NOT NULL, version int NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`;
}

export class PaymentsService {
  private readonly payments: DeciderRepository<PaymentCommand, Payment>;

  constructor(
    readonly log: Herald,
    schema: string,
  ) {
    this.payments = deciderRepository(log, {
      stream: (orderId) => `payment-${orderId}`,
      decider: payment,
      state: {
        load: async (tx, orderId) => {
          const { rows } = await tx.query<{ status: PaymentStatus; amount_cents: number; version: number }>(
            `SELECT status, amount_cents, version FROM ${schema}.payments WHERE order_id = $1 FOR UPDATE`,
            [orderId],
          );
          return rows[0] && { state: { status: rows[0].status, amountCents: rows[0].amount_cents }, version: rows[0].version };
        },
        save: async (tx, orderId, state, version) => {
          await tx.query(
            `INSERT INTO ${schema}.payments (order_id, status, amount_cents, version) VALUES ($1, $2, $3, $4)
             ON CONFLICT (order_id) DO UPDATE SET status = excluded.status, amount_cents = excluded.amount_cents, version = excluded.version, updated_at = now()`,
            [orderId, state.status, state.amountCents, version],
          );
        },
      },
    });
  }

  /** The commands payments takes from the order saga. */
  handlers(): Record<string, Handler> {
    return {
      [TakePayment.type]: async (event, tx) => {
        const { orderId, amountCents, card } = event.data as { orderId: string; amountCents: number; card: Card };
        await this.payments.execute(orderId, { type: 'take', orderId, amountCents, card }, { tx, ...causedBy(event) });
      },
      [VoidPayment.type]: async (event, tx) => {
        const { orderId } = event.data as { orderId: string };
        await this.payments.execute(orderId, { type: 'void', orderId }, { tx, ...causedBy(event) });
      },
    };
  }
}
