import type pg from 'pg';
import type { ConsumerStep, DeliveryJournal } from '../deliveries/journal.js';
import { InvalidArgumentError } from '../errors.js';
import type { RecordedEvent } from '../events/types.js';
import { EVENT_COLUMNS, type EventRow, toRecordedEvent } from '../log/records.js';

/** Where an event stands in one subscription or relay of its log. */
export interface SubscriptionStep {
  readonly subscription: string;
  /**
   * `handled`: its checkpoint is past the event and nothing of it is parked; `not-yet`: the
   * checkpoint has not reached it; otherwise its parked row's status (`parked`, `scheduled`,
   * `waiting` behind a failure of its stream, `retried`, `skipped`, …).
   */
  readonly status: string;
  readonly position: number;
  readonly reason: string | null;
  readonly error: string | null;
}

/** An event's journey: committed, each subscription and relay, and each consumer of other services. */
export interface Journey {
  readonly event: RecordedEvent;
  /** `false` while committed but not numbered yet (nothing has seen it). */
  readonly sequenced: boolean;
  readonly subscriptions: readonly SubscriptionStep[];
  /** From the delivery journal: handled, pending, or flagged (not acknowledged within `flagAfterMs`). */
  readonly consumers: readonly ConsumerStep[];
}

/** Where an event of another context stands in this context's consumers of that context. */
export interface ReceivedStep {
  readonly consumer: string;
  /** `handled` (in the inbox), `skipped`, the stored message's status (`held`, `parked`, …), or `not-received`. */
  readonly status: string;
  readonly reason: string | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Parses an event reference: an event number or an event id. Pure. */
export function eventRef(value: unknown): number | string {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 1) return value;
  if (typeof value === 'string' && /^[1-9]\d{0,15}$/.test(value) && Number.isSafeInteger(Number(value))) return Number(value);
  if (typeof value === 'string' && UUID.test(value)) return value.toLowerCase();
  throw new InvalidArgumentError('event', 'use an event number or an event id (UUID)');
}

/** Reads journeys: the sending side from this log, the receiving side from this context's consumers. */
export class Journeys {
  constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
    private readonly deliveries: DeliveryJournal,
  ) {}

  /** The journey of an event of this log, by number or id; `undefined` if there is none. */
  async journey(ref: number | string): Promise<Journey | undefined> {
    const key = eventRef(ref);
    const byNumber = typeof key === 'number';
    const { rows } = await this.pool.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM ${this.schema}.events e ${byNumber ? '' : 'LEFT '}JOIN ${this.schema}.positions p ON p.id = e.id
        WHERE ${byNumber ? 'p.event_number = $1::bigint' : 'e.event_id = $1::uuid'}`,
      [key],
    );
    if (!rows[0]) return undefined;
    const event = toRecordedEvent(rows[0]);
    const number = event.metadata.eventNumber;
    if (number === 0) return { event, sequenced: false, subscriptions: [], consumers: [] };
    const { rows: steps } = await this.pool.query<{ name: string; position: string; status: string | null; reason: string | null; error_message: string | null }>(
      `SELECT s.name, s.position, p.status, p.reason, p.error_message
         FROM ${this.schema}.subscriptions s
         LEFT JOIN ${this.schema}.parked_events p ON p.subscription = s.name AND p.event_number = $1
        ORDER BY s.name`,
      [number],
    );
    const journey = await this.deliveries.journey(number);
    return {
      event,
      sequenced: true,
      subscriptions: steps.map((s) => ({
        subscription: s.name,
        status: s.status ?? (Number(s.position) >= number ? 'handled' : 'not-yet'),
        position: Number(s.position),
        reason: s.reason,
        error: s.error_message,
      })),
      consumers: journey?.consumers ?? [],
    };
  }

  /** Where an event of context `source` stands in each of this context's consumers of it. */
  async received(source: string, eventId: string): Promise<ReceivedStep[]> {
    if (typeof eventId !== 'string' || !UUID.test(eventId)) throw new InvalidArgumentError('eventId', 'must be a UUID');
    const { rows } = await this.pool.query<{ consumer: string; handled: boolean; status: string | null; reason: string | null }>(
      `WITH RECURSIVE known AS (
         (SELECT consumer FROM ${this.schema}.consumer_streams ORDER BY consumer LIMIT 1)
         UNION ALL
         SELECT n.consumer FROM known k, LATERAL (
           SELECT consumer FROM ${this.schema}.consumer_streams WHERE consumer > k.consumer ORDER BY consumer LIMIT 1) n
       )
       SELECT k.consumer,
              EXISTS (SELECT 1 FROM ${this.schema}.inbox i WHERE i.consumer = k.consumer AND i.message_id = $2) AS handled,
              m.status, m.reason
         FROM known k
         LEFT JOIN ${this.schema}.consumer_messages m ON m.consumer = k.consumer AND m.message_key = $2
        WHERE EXISTS (SELECT 1 FROM ${this.schema}.consumer_streams c WHERE c.consumer = k.consumer AND c.source = $1)
        ORDER BY k.consumer`,
      [source, eventId.toLowerCase()],
    );
    // A skipped message is in the inbox too (so a redelivery is dropped): say skipped, not handled.
    return rows.map((r) => ({ consumer: r.consumer, status: r.status === 'skipped' ? 'skipped' : r.handled ? 'handled' : (r.status ?? 'not-received'), reason: r.reason }));
  }
}
