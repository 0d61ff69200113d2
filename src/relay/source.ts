import type pg from 'pg';
import { readMessages, type RelayMessage, type RelayPage } from './page.js';

/**
 * Where a relay's messages come from: Herald's log ({@link logSource}), or a table of the
 * application's own (`src/outbox/`). The relay's loop (pages in flight, confirms, checkpoint,
 * refusals, parking, lease) is the same for every source.
 */
export interface RelaySource {
  /** Whether the log's sequencer announcements mean there is something new to read. */
  readonly followsLog: boolean;
  /**
   * Up to `limit` messages after position `after`, in order. `last` is the position the page
   * covers: the last message's when the page is full, else how far the source knows nothing else
   * is coming (the relay's checkpoint may move there).
   */
  read(after: number, limit: number): Promise<RelayPage>;
  /** The broker confirmed these messages; the relay's checkpoint moves past them only after this resolves. */
  confirmed(messages: readonly RelayMessage[]): Promise<void>;
  /** Checked in every process before its relay starts; throws what is wrong. */
  prepare?(): Promise<void>;
  /** This process took the relay at `position`: everything up to it was read before. */
  resume?(position: number): void;
  /** When idle, how soon to look again (ms), if sooner than the relay's poll interval. */
  idleWaitMs?(): number | undefined;
}

/** Herald's log of a context, as a relay source. */
export function logSource(pool: pg.Pool, schema: string, context: string): RelaySource {
  return {
    followsLog: true,
    read: (after, limit) => readMessages(pool, schema, context, after, limit),
    confirmed: async () => {},
  };
}
