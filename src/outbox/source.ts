import { createHash } from 'node:crypto';
import type pg from 'pg';
import { OutboxSequenceError } from '../errors.js';
import type { OpenAppend } from '../log/open-appends.js';
import type { RelayMessage, RelayPage } from '../relay/page.js';
import type { RelaySource } from '../relay/source.js';
import { cloudEventPrefix } from '../transports/cloudevents.js';
import { readBacklog } from './backlog.js';
import { checkOutboxTable, type OutboxTable } from './check.js';
import type { OutboxSettings } from './options.js';
import { confirmQuery, type OutboxRow, pageQuery, toMessage } from './rows.js';
import { StreamVersions } from './versions.js';
import { Watermark } from './watermark.js';

/** While the watermark waits for writers to end, look again this soon (they are usually short)… */
const SETTLE_CHECK_MS = 10;
/** …for this long; a writer still open after it is a long transaction: looks go back to `pollMs`. */
const SETTLE_CHECKS_FOR_MS = 500;

/** An outbox relay's figures, as `herald.status().outboxes` shows them. */
export interface OutboxStatus {
  readonly name: string;
  /** `schema.table`. */
  readonly table: string;
  /** Whether this process runs the relay (the figures below are its view; 0 and empty otherwise). */
  readonly active: boolean;
  /** Every id up to here is settled (committed or rolled back): rows up to it are relayed. */
  readonly watermark: number;
  /** The id sequence's last value at the latest look (null before it handed out one). */
  readonly lastId: number | null;
  /** Rows not dispatched yet (`dispatched_at IS NULL`), in all. */
  readonly undispatched: number;
  /** The earliest `occurred_at` among them (null when none wait). */
  readonly oldestUndispatchedAt: Date | null;
  /**
   * Sessions whose open transactions hold the watermark back, oldest first: they write the table
   * and may hold ids not committed yet. Rows with higher ids (of every aggregate) wait for them.
   */
  readonly waitingFor: readonly OpenAppend[];
}

/**
 * An application's own outbox table as a relay source. Rows are read in id order, only up to the
 * watermark (see {@link Watermark}): an id is never passed over while the transaction that took
 * it may still commit. Each row gets its aggregate's next stream version before it is published,
 * and `dispatched_at` is set once the broker confirmed it.
 */
export class OutboxSource implements RelaySource {
  readonly followsLog = false;
  readonly watermark = new Watermark();
  private table: OutboxTable | undefined;
  private readonly versions: StreamVersions;
  private readonly prefix: string;
  private readonly page: { name: string; text: string };
  private readonly confirm: string;

  constructor(
    private readonly pool: pg.Pool,
    private readonly heraldSchema: string,
    readonly settings: OutboxSettings,
    owner: string,
  ) {
    this.versions = new StreamVersions(pool, heraldSchema, settings.relay.name, owner);
    this.prefix = cloudEventPrefix(settings.source);
    const text = pageQuery(settings);
    this.page = { name: `herald:outbox-page:${createHash('sha1').update(text).digest('hex').slice(0, 16)}`, text };
    this.confirm = confirmQuery(settings);
  }

  /** Checks the table (every process, before its relay starts). */
  async prepare(): Promise<void> {
    this.table = await checkOutboxTable(this.pool, this.settings);
  }

  resume(position: number): void {
    this.watermark.raise(position);
  }

  idleWaitMs(): number | undefined {
    if (!this.watermark.waiting) return undefined;
    return this.watermark.waitedMs(Date.now()) < SETTLE_CHECKS_FOR_MS ? SETTLE_CHECK_MS : undefined;
  }

  async read(after: number, limit: number): Promise<RelayPage> {
    if (after >= this.watermark.settled) await this.look();
    const through = this.watermark.settled;
    if (after >= through) return { items: [], last: after };
    const { rows } = await this.pool.query<OutboxRow>({ ...this.page, values: [after, through, limit] });
    const versions = await this.versions.assign(rows.map((r) => ({ id: r.n, stream: r.stream })));
    const text = this.tableInfo().types.payload !== 'jsonb' && this.tableInfo().types.payload !== 'json';
    const items = rows.map((r) => toMessage(r, versions.get(r.n)!, this.prefix, this.settings, text));
    await this.versions.prune();
    return { items, last: rows.length === limit ? Number(rows[rows.length - 1]!.n) : through };
  }

  async confirmed(messages: readonly RelayMessage[]): Promise<void> {
    if (messages.length > 0) await this.pool.query(this.confirm, [messages.map((m) => m.number)]);
  }

  /** One look at the table's writers (see the v9 migration's `outbox_writers`); moves the watermark. */
  private async look(): Promise<void> {
    const table = this.tableInfo();
    const { rows } = await this.pool.query<{ last_value: string | null; writers: string[]; cache: string | null }>({
      name: `herald:outbox-writers:${this.heraldSchema}`,
      text: `SELECT last_value::text, writers, cache::text FROM ${this.heraldSchema}.outbox_writers($1::oid::regclass, $2::oid)`,
      values: [table.sequenceOid, table.oid],
    });
    const row = rows[0]!;
    const column = this.settings.columns.id;
    if (row.cache !== '1') {
      throw new OutboxSequenceError(this.settings.display, column, table.sequence, 'cached',
        `sequence ${table.sequence} now has CACHE ${row.cache ?? '?'}: rows are not relayed until it is CACHE 1 again (then restart the writers' sessions that cached ids)`);
    }
    const lastValue = row.last_value === null ? null : Number(row.last_value);
    if (lastValue !== null && lastValue < this.watermark.settled) {
      throw new OutboxSequenceError(this.settings.display, column, table.sequence, 'went-back',
        `sequence ${table.sequence} went back to ${lastValue}, below ids already relayed (${this.watermark.settled}): new rows would reuse ids the relay passed; nothing more is relayed`);
    }
    this.watermark.observe(lastValue, row.writers, Date.now());
  }

  private tableInfo(): OutboxTable {
    if (!this.table) throw new Error('herald: outbox source used before prepare()');
    return this.table;
  }

  /** This process's view of the relay (see {@link OutboxStatus}). */
  async status(name: string, active: boolean): Promise<OutboxStatus> {
    return {
      name,
      table: this.settings.display,
      active,
      watermark: active ? this.watermark.settled : 0,
      lastId: active ? this.watermark.latest : null,
      ...(await readBacklog(this.pool, this.settings)),
      waitingFor: active && this.table ? await this.waitingFor(this.table.oid) : [],
    };
  }

  private async waitingFor(oid: number): Promise<OpenAppend[]> {
    const blockers = this.watermark.blockers();
    if (blockers.length === 0) return [];
    const { rows } = await this.pool.query<{ pid: number; state: string | null; xact_start: Date | null; age_ms: number | null; application_name: string | null }>(
      `SELECT DISTINCT ON (a.xact_start, l.pid) l.pid, a.state, a.xact_start, a.application_name,
              (extract(epoch FROM clock_timestamp() - a.xact_start) * 1000)::float8 AS age_ms
         FROM pg_catalog.pg_locks l LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'relation' AND l.relation = $1 AND l.virtualtransaction = ANY($2::text[]) AND l.pid IS NOT NULL
        ORDER BY a.xact_start NULLS LAST, l.pid`,
      [oid, blockers],
    );
    return rows.map((row) => ({
      pid: row.pid,
      state: row.state,
      transactionStartedAt: row.xact_start,
      ageMs: row.age_ms === null ? null : Math.max(0, Math.round(row.age_ms)),
      applicationName: row.application_name || null,
    }));
  }
}
