import type pg from 'pg';
import { ACK_TYPE, encodeAcknowledgement, toRanges } from '../deliveries/acknowledgement.js';
import type { Logger } from '../runtime/logger.js';
import { transaction } from '../sql/transaction.js';
import type { ConsumerSettings } from './definition.js';
import type { ConsumerStreams } from './streams.js';

/** Most receipts sent in one acknowledgement message. */
const PER_MESSAGE = 10_000;

/**
 * Sends a consumer's stored receipts back to the sender over the broker's `acks` channel, as
 * ranges of event numbers, every `acknowledgeEveryMs`. Receipts are taken off their table in a
 * transaction that commits only after the broker confirmed: an outbox of acknowledgements.
 */
export class ReceiptSender {
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly streams: ConsumerStreams,
    private readonly settings: ConsumerSettings,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.send(), this.settings.acknowledgeEveryMs);
    this.timer.unref();
  }

  /** Stops the timer and sends what is left. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.sending;
    await this.send();
  }

  /** Sends every stored receipt (one message per {@link PER_MESSAGE}); failures are logged and retried on the next tick. */
  send(): Promise<void> {
    this.sending ??= (async () => {
      try {
        while ((await this.sendOne()) === PER_MESSAGE);
      } catch (error) {
        this.logger.warn({ err: error, consumer: this.settings.name }, 'herald: could not send delivery receipts (will retry)');
      } finally {
        this.sending = undefined;
      }
    })();
    return this.sending;
  }

  private sendOne(): Promise<number> {
    const { name, source, transport } = this.settings;
    return transaction(this.pool, async ({ client }) => {
      const receipts = await this.streams.takeReceipts(client, PER_MESSAGE);
      if (receipts.length === 0) return 0;
      const body = encodeAcknowledgement({ consumer: name, source, ranges: toRanges(receipts) });
      await transport.publish('acks', [{ id: `${name}:${Date.now()}:${receipts[0]!.eventNumber}`, source, type: ACK_TYPE, key: name, body }]);
      return receipts.length;
    });
  }
}
