import type pg from 'pg';
import type { Logger } from './logger.js';
import { quoteIdent } from '../sql/identifiers.js';
import { sleep } from './wakeup.js';

/**
 * Holds one connection in LISTEN on a channel and hands each payload to `onMessage`.
 * Reconnects with capped backoff when the connection drops; after every (re)connect it calls
 * `onConnected`, because notifications sent while it was away are lost and callers must re-check.
 * Polling remains the fallback, so a missed notification only costs latency.
 */
export class Listener {
  private running = false;
  private loop: Promise<void> | undefined;
  private dropped: (() => void) | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly channel: string,
    private readonly onMessage: (payload: string) => void,
    private readonly onConnected: () => void,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.dropped?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    let backoff = 100;
    while (this.running) {
      try {
        await this.listenUntilDropped();
        backoff = 100;
      } catch (error) {
        if (!this.running) break;
        this.logger.warn({ err: error, channel: this.channel }, 'herald: listener connection lost, reconnecting');
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }

  private async listenUntilDropped(): Promise<void> {
    const client = await this.pool.connect();
    let failure: unknown;
    const gone = new Promise<void>((resolve) => {
      this.dropped = resolve;
      client.on('error', (error) => {
        failure = error;
        resolve();
      });
      client.on('end', () => resolve());
    });
    const onNotification = (message: pg.Notification) => {
      if (message.channel === this.channel) this.onMessage(message.payload ?? '');
    };
    client.on('notification', onNotification);
    try {
      await client.query(`LISTEN ${quoteIdent(this.channel)}`);
      this.onConnected();
      await gone;
    } finally {
      client.off('notification', onNotification);
      // Destroy rather than return a LISTENing (or broken) connection to the pool.
      client.release(failure instanceof Error ? failure : true);
    }
    if (failure) throw failure;
  }
}
