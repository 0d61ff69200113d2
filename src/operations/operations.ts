import type pg from 'pg';
import type { ParkedMessages } from '../consumers/operator.js';
import type { DeliveryJournal } from '../deliveries/journal.js';
import type { ParkedEvents } from '../parking/operator.js';
import { channelOf } from '../runtime/notifications.js';
import { quoteIdent } from '../sql/identifiers.js';
import { AuditLog } from './audit.js';
import { BulkActions } from './bulk.js';
import { FailureViews } from './failures.js';
import { Journeys } from './journey.js';
import { EventSearch } from './search.js';

/** What {@link Operations} works with: one context's pool and its operator APIs. */
export interface OperationsParts {
  readonly pool: pg.Pool;
  readonly context: string;
  readonly processId: string;
  readonly parked: ParkedEvents;
  readonly parkedMessages: ParkedMessages;
  readonly deliveries: DeliveryJournal;
}

/**
 * Everything an operator does to one context, shared by the admin panel and the CLI:
 *
 * - `bulk`: frozen bulk retries and skips (dry run, freeze, run in the background, cancel);
 * - `failures`: open failures grouped by fingerprint, consumers' stored messages, and single
 *   retries and skips that are audited;
 * - `audit`: the audit log, written for every operator action;
 * - `search`: the log by event id or number, stream, correlation or causation id, type and time,
 *   in keyset pages with opaque cursors;
 * - `journeys`: where an event went (subscriptions, relays, consumers of other services) and
 *   where an event of another context stands in this one's consumers.
 *
 * Needs schema v7 (`herald.migrate()`).
 */
export class Operations {
  readonly audit: AuditLog;
  readonly bulk: BulkActions;
  readonly failures: FailureViews;
  readonly search: EventSearch;
  readonly journeys: Journeys;

  constructor(parts: OperationsParts) {
    const schema = quoteIdent(parts.context);
    this.audit = new AuditLog(parts.pool, schema);
    this.bulk = new BulkActions(parts.pool, schema, channelOf(parts.context), this.audit, parts.processId);
    this.failures = new FailureViews(parts.pool, schema, parts.parked, parts.parkedMessages, this.audit);
    this.search = new EventSearch(parts.pool, schema);
    this.journeys = new Journeys(parts.pool, schema, parts.deliveries);
  }
}
