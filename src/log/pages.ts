import type pg from 'pg';
import type { RecordedEvent } from '../events/types.js';
import { readLogRows } from './read.js';
import { type EventRow, toRecordedEvent } from './records.js';

interface Page {
  readonly rows: Promise<EventRow[]>;
  /** The head its reader was told about: a page read for an older head may be short. */
  readonly head: number;
  /** Settled with a full page: immutable, since numbered positions never change. */
  full: boolean;
}

/**
 * Pages of the log shared by the subscriptions of one process. The sequencer wakes every live
 * subscription at once and they all ask for the same page; one query answers them all. A full
 * page never changes (positions are insert-only) and is kept for late-comers; a short one is
 * shared only while in flight, and only with readers who know no newer head than its reader did.
 *
 * Readers share the events' `data` and custom metadata objects: handlers must treat them as read-only.
 */
export class LogPages {
  private readonly pages = new Map<string, Page>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly quotedSchema: string,
    private readonly keep = 16,
  ) {}

  /** Events with `eventNumber > after`, at most `limit`, for a reader that knows the head is at least `head`. */
  async read(after: number, limit: number, head: number): Promise<RecordedEvent[]> {
    const key = `${after}:${limit}`;
    let page = this.pages.get(key);
    if (!page || (!page.full && page.head < head)) page = this.fetch(key, after, limit, head);
    return (await page.rows).map(toRecordedEvent);
  }

  private fetch(key: string, after: number, limit: number, head: number): Page {
    const rows = readLogRows(this.pool, this.quotedSchema, after, limit);
    const page: Page = { rows, head, full: false };
    this.pages.delete(key);
    this.pages.set(key, page);
    const forget = (): void => {
      if (this.pages.get(key) === page) this.pages.delete(key);
    };
    rows.then((found) => {
      if (found.length === limit) page.full = true;
      else forget();
    }, forget);
    while (this.pages.size > this.keep) this.pages.delete(this.pages.keys().next().value as string);
    return page;
  }
}
