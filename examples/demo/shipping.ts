/**
 * The shipping context: a `Shipment` aggregate per order (one row in `shipments`, written with
 * its events), and a label printer: a subscription on shipping's own log. A label whose address
 * has no postcode cannot be printed, on any attempt: its error policy retries once, then parks
 * it for a person (`herald parked list`). Only that shipment's stream waits; the rest flows.
 */
import { AggregateRoot, type AnyEvent, aggregateRepository, type AggregateRepository, type Herald, park, retry, type SubscriptionDefinition } from '../../src/index.js';
import { type Address, LabelRequested, ShipOrder, Shipped } from './events.js';
import { causedBy, type Handler } from './shared.js';

export class Shipment extends AggregateRoot {
  trackingNumber: string | null = null;

  ship(address: Address): void {
    if (this.trackingNumber) return; // shipped already
    const trackingNumber = `TRK-${this.id.toUpperCase()}`;
    this.raise(Shipped.create({ orderId: this.id, trackingNumber }));
    this.raise(LabelRequested.create({ orderId: this.id, trackingNumber, address }));
  }

  protected apply(event: AnyEvent): void {
    if (event.type === 'Shipped') this.trackingNumber = (event.data as { trackingNumber: string }).trackingNumber;
  }
}

/** The label printer's refusal: the same address fails on every attempt (a poison event). */
export class MalformedLabelError extends Error {
  override readonly name = 'MalformedLabelError';
}

/** The label printer's subscription name (in the shipping log). */
export const LABEL_PRINTER = 'shipping.print-labels';

export function shippingTables(s: string): string {
  return `CREATE TABLE ${s}.shipments (order_id text PRIMARY KEY, tracking_number text NOT NULL, shipped_at timestamptz NOT NULL DEFAULT now());
    CREATE TABLE ${s}.labels (order_id text PRIMARY KEY, label text NOT NULL)`;
}

export class ShippingService {
  private readonly shipments: AggregateRepository<Shipment>;

  constructor(
    readonly log: Herald,
    private readonly schema: string,
  ) {
    this.shipments = aggregateRepository(log, { stream: (orderId) => `shipment-${orderId}`, create: (orderId) => new Shipment(orderId) });
  }

  /** The command shipping takes from the order saga. */
  handlers(): Record<string, Handler> {
    return {
      [ShipOrder.type]: async (event, tx) => {
        const { orderId, address } = event.data as { orderId: string; address: Address };
        let shippedNow = false;
        const shipment = await this.shipments.update(
          orderId,
          (s) => {
            shippedNow = s.trackingNumber === null;
            s.ship(address);
          },
          { tx, ...causedBy(event) },
        );
        // No ON CONFLICT: a second shipment row for an order would fail loudly, never double up.
        if (shippedNow) await tx.query(`INSERT INTO ${this.schema}.shipments (order_id, tracking_number) VALUES ($1, $2)`, [orderId, shipment.trackingNumber]);
      },
    };
  }

  /** Prints labels from shipping's own log; malformed ones are parked. */
  labelPrinter(): SubscriptionDefinition {
    const labels = `${this.schema}.labels`;
    return {
      name: LABEL_PRINTER,
      async handle(event, _meta, { tx }) {
        if (!LabelRequested.is(event)) return;
        const { orderId, trackingNumber, address } = event.data;
        if (!/^\d{5}$/.test(address.postcode)) throw new MalformedLabelError(`label for ${orderId}: no valid postcode in ${JSON.stringify(address)}`);
        const label = `${trackingNumber}\n${address.name}\n${address.street}\n${address.postcode} ${address.city}`;
        await tx.query(`INSERT INTO ${labels} (order_id, label) VALUES ($1, $2)`, [orderId, label]);
      },
      // A malformed label fails the same way every time: one quick retry, then a person decides.
      onError: (error, _event, failure) => {
        const malformed = error instanceof MalformedLabelError;
        if (failure.attempt < (malformed ? 2 : 5)) return retry({ delayMs: 200 * failure.attempt });
        return park(malformed ? 'malformed label: the address has no valid postcode' : `label printer failed ${failure.attempt} times`);
      },
    };
  }
}
