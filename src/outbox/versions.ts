import type pg from 'pg';
import { LeaseLostError } from '../errors.js';

/**
 * Per-aggregate stream versions of an outbox relay's rows, in Herald's tables (migration v9).
 * A page's rows get the next versions of their aggregates in id order, stored (durably) before
 * the page is published; a row read again (published again after a crash, or a parked one
 * retried) gets the version it had. Consumers restore each stream's order from these versions
 * and drop duplicates by them and by event id.
 */
export class StreamVersions {
  private readonly streams: string;
  private readonly versions: string;
  private readonly subscriptions: string;
  private readonly parked: string;
  /** Assignments run one at a time, in the order pages were read, so versions follow ids. */
  private queue: Promise<unknown> = Promise.resolve();
  private prunedAt = 0;

  constructor(
    private readonly pool: pg.Pool,
    quotedSchema: string,
    private readonly outbox: string,
    private readonly owner: string,
  ) {
    this.streams = `${quotedSchema}.outbox_streams`;
    this.versions = `${quotedSchema}.outbox_versions`;
    this.subscriptions = `${quotedSchema}.subscriptions`;
    this.parked = `${quotedSchema}.parked_events`;
  }

  /** The version of each row (by id), assigning the next ones of their aggregates to rows that have none. */
  assign(rows: readonly { readonly id: string; readonly stream: string }[]): Promise<Map<string, number>> {
    const run = this.queue.then(() => this.assignNow(rows));
    this.queue = run.catch(() => {});
    return run;
  }

  private async assignNow(rows: readonly { readonly id: string; readonly stream: string }[]): Promise<Map<string, number>> {
    if (rows.length === 0) return new Map();
    // One statement: fenced on the lease (a holder that lost it assigns nothing), atomic (a
    // conflicting assignment fails whole), durable before anything of the page is published.
    const { rows: found } = await this.pool.query<{ row_id: string; version: string }>({
      name: `herald:outbox-versions:${this.versions}`,
      text: `WITH fence AS (
               UPDATE ${this.subscriptions} SET updated_at = now() WHERE name = $1 AND lease_owner = $2 RETURNING 1),
             page AS (SELECT u.row_id, u.aggregate_id FROM unnest($3::bigint[], $4::text[]) AS u(row_id, aggregate_id)),
             known AS (SELECT v.row_id, v.version FROM ${this.versions} v WHERE v.outbox = $1 AND v.row_id = ANY($3::bigint[])),
             fresh AS (
               SELECT p.row_id, p.aggregate_id,
                      row_number() OVER (PARTITION BY p.aggregate_id ORDER BY p.row_id) AS k,
                      count(*) OVER (PARTITION BY p.aggregate_id) AS n
                 FROM page p
                WHERE NOT EXISTS (SELECT 1 FROM known WHERE known.row_id = p.row_id) AND EXISTS (SELECT 1 FROM fence)),
             bumped AS (
               INSERT INTO ${this.streams} AS s (outbox, aggregate_id, version)
               SELECT DISTINCT $1::text, aggregate_id, n FROM fresh
               ON CONFLICT (outbox, aggregate_id) DO UPDATE SET version = s.version + EXCLUDED.version
               RETURNING aggregate_id, version),
             assigned AS (
               INSERT INTO ${this.versions} (outbox, row_id, version)
               SELECT $1::text, f.row_id, b.version - f.n + f.k FROM fresh f JOIN bumped b USING (aggregate_id)
               RETURNING row_id, version)
             SELECT row_id::text, version::text FROM known UNION ALL SELECT row_id::text, version::text FROM assigned`,
      values: [this.outbox, this.owner, rows.map((r) => r.id), rows.map((r) => r.stream)],
    });
    const versions = new Map(found.map((r) => [r.row_id, Number(r.version)]));
    if (rows.some((r) => !versions.has(r.id))) throw new LeaseLostError(this.outbox);
    return versions;
  }

  /**
   * Forgets the versions of rows the checkpoint passed (at most every `everyMs`), except parked
   * rows and those waiting behind them: they are published later with the version they have.
   * Each aggregate's last version stays in `outbox_streams`.
   */
  async prune(everyMs = 1000): Promise<void> {
    if (Date.now() - this.prunedAt < everyMs) return;
    this.prunedAt = Date.now();
    await this.pool.query(
      `DELETE FROM ${this.versions} v
        WHERE v.outbox = $1 AND v.row_id <= (SELECT position FROM ${this.subscriptions} WHERE name = $1)
          AND NOT EXISTS (SELECT 1 FROM ${this.parked} p WHERE p.subscription = $1 AND p.event_number = v.row_id AND p.status NOT IN ('retried', 'skipped'))`,
      [this.outbox],
    );
  }
}
