import type { NewEvent, RecordedEvent } from '../events/types.js';

/** An event as an aggregate sees it: a new one it raised, or one read back from its stream. */
export type AnyEvent = NewEvent | RecordedEvent;

/**
 * The object-oriented style: an aggregate root whose methods check the rules and `raise()` events;
 * `apply()` changes its fields from an event (raised now or read from history), and must not
 * check anything or fail. A repository loads it from its stream and saves what it raised.
 *
 * ```ts
 * class Order extends AggregateRoot {
 *   status: 'new' | 'placed' = 'new';
 *   place(qty: number) {
 *     if (this.status !== 'new') throw new Error('already placed');
 *     this.raise(OrderPlaced.create({ orderId: this.id, qty }));
 *   }
 *   protected apply(event: AnyEvent) {
 *     if (event.type === 'OrderPlaced') this.status = 'placed';
 *   }
 * }
 * ```
 */
export abstract class AggregateRoot {
  private pending: NewEvent[] = [];
  private loadedVersion = 0;

  constructor(readonly id: string) {}

  /** Changes the state from one event. Called for history and for every raised event. */
  protected abstract apply(event: AnyEvent): void;

  /** Records a new event and applies it. */
  protected raise(event: NewEvent): void {
    this.apply(event);
    this.pending.push(event);
  }

  /** The stream version it was loaded at (0 for a new one): the expected version of its next save. */
  get version(): number {
    return this.loadedVersion;
  }

  /** Events raised since it was loaded or last saved. */
  get uncommittedEvents(): readonly NewEvent[] {
    return this.pending;
  }

  /** Replays history (called by the repository). */
  loadFromHistory(events: readonly RecordedEvent[]): void {
    for (const event of events) {
      this.apply(event);
      this.loadedVersion = event.metadata.streamVersion;
    }
  }

  /** After a save: what was raised is now history at `version`. */
  markCommitted(version: number): void {
    this.pending = [];
    this.loadedVersion = version;
  }
}
