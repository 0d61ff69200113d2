import type pg from 'pg';
import type { Sequencer } from '../log/sequencer.js';
import type { Logger } from '../runtime/logger.js';
import { notify } from '../runtime/notifications.js';

/**
 * Sequencers running in this process, by context. Any Herald of a context hints all of them, so
 * an app that writes through one instance and runs subscriptions on another still wakes at once.
 */
export const runningSequencers = new Map<string, Set<Sequencer>>();

export function hintSequencers(context: string, committed = true): boolean {
  const sequencers = runningSequencers.get(context);
  for (const sequencer of sequencers ?? []) {
    if (committed) sequencer.hint();
    else sequencer.hintSoon();
  }
  return (sequencers?.size ?? 0) > 0;
}

/**
 * A writer with no sequencer in this process wakes a remote one by notification after its
 * commits: at most one NOTIFY in flight, and one more if commits happened meanwhile.
 */
export class WriterWake {
  private sending: Promise<void> | undefined;
  private again = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly channel: string,
    private readonly logger: Logger,
  ) {}

  notify(): void {
    if (this.sending) {
      this.again = true;
      return;
    }
    this.sending = (async () => {
      do {
        this.again = false;
        await notify(this.pool, this.channel, 'committed').catch((error) => {
          this.logger.warn({ err: error }, 'herald: writer notification failed (the sequencer will poll)');
        });
      } while (this.again);
      this.sending = undefined;
    })();
  }

  /** Resolves once no notification is in flight. */
  async idle(): Promise<void> {
    await this.sending;
  }
}
