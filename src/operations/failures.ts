import type pg from 'pg';
import { type ConsumerMessageRow, type MessageRequestOutcome, type ParkedMessage, type ParkedMessages, toParkedMessage } from '../consumers/operator.js';
import { HeraldError } from '../errors.js';
import { type ParkedEvent, type ParkedEventRow, type ParkedEvents, type RetryOutcome, toParkedEvent } from '../parking/operator.js';
import type { AuditLog } from './audit.js';
import { decodeCursor, encodeCursor, pageSize } from './cursor.js';
import { type FailureFilter, type FailureTarget, filterWhere, OPEN, storedFilter, TARGETS, text, validateFilter, validateTarget } from './filter.js';

/** A page of open failures of one target. */
export type FailurePage =
  | { readonly target: 'events'; readonly items: readonly ParkedEvent[]; readonly nextCursor: string | null }
  | { readonly target: 'messages'; readonly items: readonly ParkedMessage[]; readonly nextCursor: string | null };

/** Keyset order of each target's list, and the cursor fields that continue it. */
const LIST_ORDER: Readonly<Record<FailureTarget, { order: string; after: string; shape: Record<string, RegExp> }>> = {
  events: {
    order: 'event_number, subscription',
    after: '(event_number, subscription) > ($A::bigint, $B::text)',
    shape: { a: /^\d{1,19}$/, b: /^[\s\S]{1,200}$/ },
  },
  messages: {
    order: 'received_at, consumer, message_key',
    after: "(received_at, consumer, message_key) > ($A::timestamptz, $B::text, $C::text)",
    shape: { a: /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/, b: /^[\s\S]{1,200}$/, c: /^[\s\S]{1,500}$/ },
  },
};

/** Open failures that share a fingerprint (or have none) in one subscription, relay or consumer. */
export interface FailureGroup {
  readonly target: FailureTarget;
  /** The subscription or relay (events), or the consumer (messages). */
  readonly owner: string;
  /** `null`: failures without a fingerprint (a malformed message, say). */
  readonly fingerprint: string | null;
  /** The event type, or `null` when the group has several (or none known). */
  readonly eventType: string | null;
  /** Error type and message (or park reason) of the latest failure in the group. */
  readonly errorType: string | null;
  readonly sample: string | null;
  readonly count: number;
  readonly firstSeen: Date | null;
  readonly lastSeen: Date | null;
}

/** A consumer's stored messages now, across processes. */
export interface ConsumerSummary {
  readonly consumer: string;
  readonly source: string;
  readonly parked: number;
  readonly scheduled: number;
  readonly held: number;
  /** Operator requests not carried out yet. */
  readonly requested: number;
}

interface GroupRow {
  owner: string;
  fingerprint: string | null;
  event_type: string | null;
  error_type: string | null;
  sample: string | null;
  count: string;
  first_seen: Date | null;
  last_seen: Date | null;
}

/** When a failure was first and last seen, per target (a malformed message may have no attempt times). */
const SEEN: Readonly<Record<FailureTarget, { first: string; last: string }>> = {
  events: { first: 'coalesce(first_failed_at, parked_at)', last: 'coalesce(last_failed_at, parked_at)' },
  messages: { first: 'coalesce(first_failed_at, parked_at, received_at)', last: 'coalesce(last_failed_at, parked_at, received_at)' },
};

/**
 * Failures as operators triage them: grouped by fingerprint, and the single retries and skips,
 * each written to the audit log with its outcome (or the error it was refused with).
 */
export class FailureViews {
  constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
    private readonly parked: ParkedEvents,
    private readonly messages: ParkedMessages,
    private readonly audit: AuditLog,
  ) {}

  /** Open failures of `target`, grouped by owner and fingerprint, largest group first (at most 500 groups). */
  async groups(target: FailureTarget): Promise<FailureGroup[]> {
    const t = TARGETS[validateTarget(target)];
    const seen = SEEN[target];
    const { rows } = await this.pool.query<GroupRow>(
      `SELECT ${t.owner} AS owner, fingerprint,
              CASE WHEN count(DISTINCT event_type) = 1 THEN min(event_type) END AS event_type,
              (array_agg(error_type ORDER BY ${seen.last} DESC))[1] AS error_type,
              (array_agg(coalesce(error_message, reason) ORDER BY ${seen.last} DESC))[1] AS sample,
              count(*) AS count, min(${seen.first}) AS first_seen, max(${seen.last}) AS last_seen
         FROM ${this.schema}.${t.table} WHERE status = ANY($1::text[])
        GROUP BY ${t.owner}, fingerprint ORDER BY count(*) DESC, max(${seen.last}) DESC LIMIT 500`,
      [OPEN[target]],
    );
    return rows.map((r) => ({
      target,
      owner: r.owner,
      fingerprint: r.fingerprint,
      eventType: r.event_type,
      errorType: r.error_type,
      sample: r.sample,
      count: Number(r.count),
      firstSeen: r.first_seen,
      lastSeen: r.last_seen,
    }));
  }

  /**
   * Open failures of `target` matching `filter` (a `null` fingerprint: those without one), in
   * keyset pages: events by number, messages by arrival. At most 200 a page (default 50).
   */
  list(target: 'events', filter?: FailureFilter, page?: { cursor?: string; limit?: number }): Promise<Extract<FailurePage, { target: 'events' }>>;
  list(target: 'messages', filter?: FailureFilter, page?: { cursor?: string; limit?: number }): Promise<Extract<FailurePage, { target: 'messages' }>>;
  list(target: FailureTarget, filter?: FailureFilter, page?: { cursor?: string; limit?: number }): Promise<FailurePage>;
  async list(target: FailureTarget, input: FailureFilter = {}, page: { cursor?: string; limit?: number } = {}): Promise<FailurePage> {
    const t = TARGETS[validateTarget(target)];
    const filter = validateFilter(input);
    const limit = pageSize(page.limit, 50, 200);
    const where = filterWhere(target, filter, OPEN[target]);
    const order = LIST_ORDER[target];
    const scope = { list: target, ...storedFilter(filter) };
    const values = [...where.values];
    let after = '';
    if (page.cursor !== undefined) {
      const position = decodeCursor(page.cursor, scope, order.shape);
      after = order.after.replace(/\$([ABC])/g, (_, name: string) => {
        values.push(position[name.toLowerCase()]);
        return `$${values.length}`;
      });
    }
    values.push(limit + 1);
    const { rows } = await this.pool.query<(ParkedEventRow | ConsumerMessageRow) & { received_key?: string }>(
      `SELECT *${target === 'messages' ? `, to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS received_key` : ''}
         FROM ${this.schema}.${t.table} WHERE ${where.sql}${after ? ` AND ${after}` : ''} ORDER BY ${order.order} LIMIT $${values.length}`,
      values,
    );
    const more = rows.length > limit;
    const shown = rows.slice(0, limit);
    const last = shown[shown.length - 1];
    if (target === 'events') {
      const items = (shown as ParkedEventRow[]).map(toParkedEvent);
      const end = items[items.length - 1];
      return { target, items, nextCursor: more && end ? encodeCursor(scope, { a: String(end.eventNumber), b: end.subscription }) : null };
    }
    const items = (shown as ConsumerMessageRow[]).map(toParkedMessage);
    const end = items[items.length - 1];
    return { target, items, nextCursor: more && end && last?.received_key ? encodeCursor(scope, { a: last.received_key, b: end.consumer, c: end.key }) : null };
  }

  /** Every consumer of this context (known from its streams or its stored messages) and its stored messages now. */
  async consumers(): Promise<ConsumerSummary[]> {
    const { rows } = await this.pool.query<{ consumer: string; source: string; parked: string; scheduled: string; held: string; requested: string }>(
      `WITH RECURSIVE known AS (
         (SELECT consumer, source FROM ${this.schema}.consumer_streams ORDER BY consumer, source LIMIT 1)
         UNION ALL
         SELECT n.consumer, n.source FROM known k, LATERAL (
           SELECT consumer, source FROM ${this.schema}.consumer_streams WHERE (consumer, source) > (k.consumer, k.source)
            ORDER BY consumer, source LIMIT 1) n
       ), open AS (
         SELECT consumer, coalesce(source, '') AS source,
                count(*) FILTER (WHERE status = 'parked') AS parked, count(*) FILTER (WHERE status = 'scheduled') AS scheduled,
                count(*) FILTER (WHERE status = 'held') AS held, count(*) FILTER (WHERE status IN ('retry_requested', 'skip_requested')) AS requested
           FROM ${this.schema}.consumer_messages WHERE status NOT IN ('retried', 'skipped') GROUP BY 1, 2)
       SELECT coalesce(k.consumer, o.consumer) AS consumer, coalesce(k.source, o.source) AS source,
              coalesce(o.parked, 0) AS parked, coalesce(o.scheduled, 0) AS scheduled, coalesce(o.held, 0) AS held, coalesce(o.requested, 0) AS requested
         FROM known k FULL JOIN open o ON o.consumer = k.consumer AND o.source = k.source
        ORDER BY 1, 2`,
    );
    return rows.map((r) => ({
      consumer: r.consumer,
      source: r.source,
      parked: Number(r.parked),
      scheduled: Number(r.scheduled),
      held: Number(r.held),
      requested: Number(r.requested),
    }));
  }

  /** Asks for a retry of one parked event (see `herald.parked.retry`), and audits it. */
  retryEvent(actor: string, subscription: string, eventNumber: number, options: { wait?: boolean; timeoutMs?: number } = {}): Promise<RetryOutcome> {
    return this.audited(actor, 'event.retry', `${subscription} #${eventNumber}`, null, () => this.parked.retry(subscription, eventNumber, options));
  }

  /** Asks to skip one parked event (see `herald.parked.skip`), and audits it. */
  skipEvent(actor: string, subscription: string, eventNumber: number, reason: string, options: { wait?: boolean; timeoutMs?: number } = {}): Promise<RetryOutcome> {
    return this.audited(actor, 'event.skip', `${subscription} #${eventNumber}`, reason, () => this.parked.skip(subscription, eventNumber, reason, options));
  }

  /** Asks for a retry of one stored consumer message (see `herald.parkedMessages.retry`), and audits it. */
  retryMessage(actor: string, consumer: string, key: string, options: { wait?: boolean; timeoutMs?: number } = {}): Promise<MessageRequestOutcome> {
    return this.audited(actor, 'message.retry', `${consumer} ${key}`, null, () => this.messages.retry(consumer, key, options));
  }

  /** Asks to skip one stored consumer message (see `herald.parkedMessages.skip`), and audits it. */
  skipMessage(actor: string, consumer: string, key: string, reason: string, options: { wait?: boolean; timeoutMs?: number } = {}): Promise<MessageRequestOutcome> {
    return this.audited(actor, 'message.skip', `${consumer} ${key}`, reason, () => this.messages.skip(consumer, key, reason, options));
  }

  /** Runs an operator request and records it, with its outcome or the code of the error that refused it. */
  private async audited<T extends { status: string }>(actor: string, action: string, target: string, reason: string | null, request: () => Promise<T>): Promise<T> {
    text('actor', actor, 200);
    try {
      const outcome = await request();
      await this.audit.record({ actor, action, target, count: 1, outcome: outcome.status, detail: reason ? { reason } : {} });
      return outcome;
    } catch (error) {
      const code = error instanceof HeraldError ? error.code : 'error';
      await this.audit.record({ actor, action, target, count: 1, outcome: code, detail: { error: error instanceof Error ? error.message : String(error) } });
      throw error;
    }
  }
}
