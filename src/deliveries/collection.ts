import type { Logger } from '../runtime/logger.js';
import type { Consumption, Transport } from '../transports/transport.js';
import type { DeliveryJournal } from './journal.js';

/** What a relay declares about the consumers of its events. */
export interface RelayDeliveries {
  readonly transport: Transport;
  /** Collect consumers' acknowledgements from the transport's `acks` channel. */
  readonly collect: boolean;
  /** Consumers expected to handle every event (flagged even before their first acknowledgement). */
  readonly expected: readonly string[];
}

/**
 * The sender's side of delivery acknowledgements while a log is started: one collection per
 * transport its relays publish to. Acknowledgements are not worth holding a relay back for:
 * while the broker is unreachable, collecting keeps trying in the background.
 */
export class AcknowledgementCollection {
  private readonly consumptions = new Map<Transport, Consumption | undefined>();
  private running = false;

  constructor(
    private readonly journal: DeliveryJournal,
    private readonly logger: Logger,
  ) {}

  /** Declares a relay's expected consumers and starts collecting from its transport (once per transport). */
  async add(relay: RelayDeliveries): Promise<void> {
    this.running = true;
    await this.journal.expect(relay.expected);
    if (!relay.collect || this.consumptions.has(relay.transport)) return;
    this.consumptions.set(relay.transport, undefined);
    void this.collect(relay.transport);
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all([...this.consumptions.values()].map((c) => c?.close()));
    this.consumptions.clear();
  }

  private async collect(transport: Transport): Promise<void> {
    for (let backoff = 100; this.running && this.consumptions.has(transport); backoff = Math.min(backoff * 2, 5000)) {
      try {
        const consumption = await this.journal.collect(transport);
        if (this.running && this.consumptions.has(transport)) this.consumptions.set(transport, consumption);
        else await consumption.close();
        return;
      } catch (error) {
        this.logger.warn({ err: error }, 'herald: cannot collect delivery acknowledgements yet, retrying');
        await new Promise((resolve) => setTimeout(resolve, backoff));
      }
    }
  }
}
