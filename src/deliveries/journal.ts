import type pg from 'pg';
import { InvalidArgumentError, MalformedMessageError } from '../errors.js';
import { eventsInOrder } from '../log/records.js';
import type { Logger } from '../runtime/logger.js';
import type { Consumption, Delivery, Transport } from '../transports/transport.js';
import { type Acknowledgement, decodeAcknowledgement } from './acknowledgement.js';

/** How the sender judges delivery. */
export interface DeliveryOptions {
  /** An event no consumer acknowledged after this long is flagged for review. Default 300 000 ms (5 min). */
  readonly flagAfterMs?: number;
}

/** One consumer's delivery figures, as the sending context sees them. */
export interface ConsumerDeliveryStatus {
  readonly consumer: string;
  /** Declared in `expectedConsumers` (else only known from its acknowledgements). */
  readonly expected: boolean;
  /** Every event up to this number was acknowledged. */
  readonly handledThrough: number;
  /** Events of the log (up to the head) this consumer acknowledged. */
  readonly handled: number;
  /** Events not acknowledged yet: `head − handled`. */
  readonly pending: number;
  /** Of those, events older than `flagAfterMs`: flagged for review. */
  readonly flagged: number;
  readonly lastAcknowledgedAt: Date | null;
}

/** One consumer's part in an event's journey. */
export interface ConsumerStep {
  readonly consumer: string;
  /** `handled`: acknowledged; `pending`: not yet, still within `flagAfterMs`; `flagged`: not after `flagAfterMs`. */
  readonly status: 'handled' | 'pending' | 'flagged';
  /** When it was handled: the latest handling time of the acknowledged batch it was in (exact for a batch of one). */
  readonly handledAt: Date | null;
}

/** Where one event went: every known consumer and whether it handled it. */
export interface EventJourney {
  readonly eventNumber: number;
  readonly eventId: string;
  readonly type: string;
  readonly streamId: string;
  readonly createdAt: Date;
  readonly consumers: readonly ConsumerStep[];
}

/** An event a consumer has not acknowledged in time. */
export interface FlaggedDelivery {
  readonly consumer: string;
  readonly eventNumber: number;
  readonly eventId: string;
  readonly type: string;
  readonly streamId: string;
  readonly createdAt: Date;
}

/**
 * The sending context's record of who handled what. Consumers write receipts in their handling
 * transactions and send them back in batches over the broker; the journal stores each batch as
 * ranges of event numbers. The append path writes nothing per event; questions are answered
 * with range arithmetic (PostgreSQL multiranges) over the log.
 */
export class DeliveryJournal {
  private readonly flagAfterMs: number;

  constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
    private readonly context: string,
    private readonly logger: Logger,
    options: DeliveryOptions = {},
  ) {
    this.flagAfterMs = options.flagAfterMs ?? 300_000;
    if (!Number.isFinite(this.flagAfterMs) || this.flagAfterMs < 0) throw new InvalidArgumentError('flagAfterMs', `must be ≥ 0, got ${options.flagAfterMs}`);
  }

  /** Declares consumers that must handle every event (listed and flagged before their first acknowledgement). */
  async expect(consumers: readonly string[]): Promise<void> {
    if (consumers.length === 0) return;
    await this.pool.query(
      `INSERT INTO ${this.schema}.delivery_consumers (consumer, expected) SELECT unnest($1::text[]), true
       ON CONFLICT (consumer) DO UPDATE SET expected = true`,
      [consumers],
    );
  }

  /** Stores one acknowledgement (idempotent: ranges already known add nothing new). */
  async record(ack: Acknowledgement): Promise<void> {
    await this.pool.query(
      `WITH consumer AS (
         -- A consumer first known from its acknowledgements counts from the first event it acknowledged
         -- (it may have joined later); an expected one counts from its declared start.
         INSERT INTO ${this.schema}.delivery_consumers AS c (consumer, last_ack_at, from_number) VALUES ($1, now(), (SELECT min(f) FROM unnest($2::bigint[]) f))
         ON CONFLICT (consumer) DO UPDATE SET last_ack_at = now(),
           from_number = CASE WHEN c.expected THEN c.from_number ELSE least(c.from_number, EXCLUDED.from_number) END
       )
       INSERT INTO ${this.schema}.deliveries (consumer, first_number, last_number, first_handled_at, last_handled_at)
       SELECT $1, unnest($2::bigint[]), unnest($3::bigint[]), unnest($4::timestamptz[]), unnest($5::timestamptz[])`,
      [
        ack.consumer,
        ack.ranges.map((r) => r.first),
        ack.ranges.map((r) => r.last),
        ack.ranges.map((r) => r.firstHandledAt),
        ack.ranges.map((r) => r.lastHandledAt),
      ],
    );
  }

  /**
   * Reads acknowledgements from the transport's `acks` channel into the journal until closed, and
   * compacts the journal every `compactEveryMs` (default one minute) meanwhile.
   */
  async collect(transport: Transport, compactEveryMs = 60_000): Promise<Consumption> {
    const consumption = await transport.consume({ channel: 'acks', source: this.context, group: 'sender', prefetch: 16 }, (delivery) => {
      void this.receive(delivery);
    });
    const timer = setInterval(() => {
      this.compact().catch((error) => this.logger.warn({ err: error }, 'herald: delivery journal compaction failed (will retry)'));
    }, compactEveryMs);
    timer.unref();
    return {
      close: async () => {
        clearInterval(timer);
        await consumption.close();
      },
    };
  }

  /**
   * Merges each consumer's acknowledged ranges older than `olderThanMs` into as few rows as the
   * gaps allow, so the journal stays small. A merged row keeps the earliest and latest handling
   * times of what it merged (a journey then reports the latest). One statement per consumer:
   * concurrent compactions cannot lose ranges.
   */
  async compact(olderThanMs = 60_000): Promise<void> {
    const { rows } = await this.pool.query<{ consumer: string }>(`SELECT consumer FROM ${this.schema}.delivery_consumers`);
    for (const { consumer } of rows) {
      await this.pool.query(
        `WITH old AS (
           DELETE FROM ${this.schema}.deliveries
            WHERE consumer = $1 AND received_at < now() - $2 * interval '1 millisecond'
           RETURNING first_number, last_number, first_handled_at, last_handled_at),
         merged AS (SELECT unnest(range_agg(int8range(first_number, last_number, '[]'))) AS r FROM old)
         INSERT INTO ${this.schema}.deliveries (consumer, first_number, last_number, first_handled_at, last_handled_at, received_at)
         SELECT $1, lower(m.r), upper(m.r) - 1,
                (SELECT min(o.first_handled_at) FROM old o WHERE int8range(o.first_number, o.last_number, '[]') && m.r),
                (SELECT max(o.last_handled_at) FROM old o WHERE int8range(o.first_number, o.last_number, '[]') && m.r),
                now() - $2 * interval '1 millisecond'
           FROM merged m`,
        [consumer, olderThanMs],
      );
    }
  }

  private async receive(delivery: Delivery): Promise<void> {
    let ack: Acknowledgement;
    try {
      ack = decodeAcknowledgement(delivery.body);
      if (ack.source !== this.context) throw new MalformedMessageError(`acknowledgement for context '${ack.source}' arrived at '${this.context}'`);
    } catch (error) {
      // Acknowledgements are Herald's own traffic: a bad one is a bug or a misrouting, logged loudly.
      this.logger.error({ err: error, brokerId: delivery.brokerId }, 'herald: malformed delivery acknowledgement dropped');
      await delivery.ack();
      return;
    }
    try {
      await this.record(ack);
      await delivery.ack();
    } catch (error) {
      this.logger.warn({ err: error }, 'herald: could not store a delivery acknowledgement; it will be redelivered');
      // Hand it back after a pause: RabbitMQ redelivers a nacked message at once, which would spin
      // while the database is away.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      await delivery.nack();
    }
  }

  /** Every known consumer's figures against the log's `head`. */
  async status(head: number): Promise<ConsumerDeliveryStatus[]> {
    const { rows } = await this.pool.query<{
      consumer: string;
      expected: boolean;
      last_ack_at: Date | null;
      from_number: string;
      handled: string;
      handled_through: string;
      flagged: string;
    }>(
      `WITH flag AS (${this.flagLine()}),
       cov AS (
         SELECT c.consumer, c.expected, c.last_ack_at, c.from_number,
                coalesce(range_agg(int8range(d.first_number, d.last_number, '[]')) FILTER (WHERE d.consumer IS NOT NULL), '{}'::int8multirange) AS covered
           FROM ${this.schema}.delivery_consumers c
           LEFT JOIN ${this.schema}.deliveries d ON d.consumer = c.consumer
          GROUP BY c.consumer, c.expected, c.last_ack_at, c.from_number)
       SELECT cov.consumer, cov.expected, cov.last_ack_at, cov.from_number,
              (SELECT coalesce(sum(upper(r) - lower(r)), 0) FROM unnest(cov.covered * int8multirange(int8range(cov.from_number, $2::bigint + 1))) r) AS handled,
              coalesce((SELECT upper(r) - 1 FROM unnest(cov.covered) r WHERE r @> cov.from_number), cov.from_number - 1) AS handled_through,
              (SELECT coalesce(sum(upper(r) - lower(r)), 0)
                 FROM unnest(int8multirange(int8range(cov.from_number, greatest(cov.from_number, flag.n + 1))) - cov.covered) r) AS flagged
         FROM cov, flag
        ORDER BY cov.consumer`,
      [this.flagAfterMs, head],
    );
    return rows.map((r) => ({
      consumer: r.consumer,
      expected: r.expected,
      handledThrough: Number(r.handled_through),
      handled: Number(r.handled),
      pending: Math.max(0, head - Number(r.from_number) + 1) - Number(r.handled),
      flagged: Number(r.flagged),
      lastAcknowledgedAt: r.last_ack_at,
    }));
  }

  /** An event's journey: each known consumer, and whether and when it handled the event. `undefined` if no such sequenced event. */
  async journey(event: number | string): Promise<EventJourney | undefined> {
    const byNumber = typeof event === 'number';
    if (byNumber ? !Number.isSafeInteger(event) || event < 1 : !/^[0-9a-f-]{36}$/i.test(event)) {
      throw new InvalidArgumentError('event', `expected an event number or an event id, got ${JSON.stringify(event)}`);
    }
    const { rows: found } = await this.pool.query<{ event_number: string; event_id: string; event_type: string; stream_id: string; created_at: Date; overdue: boolean }>(
      `SELECT p.event_number, e.event_id, e.event_type, e.stream_id, e.created_at,
              e.created_at < now() - $2 * interval '1 millisecond' AS overdue
         FROM ${eventsInOrder(this.schema)} WHERE ${byNumber ? 'p.event_number = $1' : 'e.event_id = $1::uuid'}`,
      [event, this.flagAfterMs],
    );
    const row = found[0];
    if (!row) return undefined;
    const { rows } = await this.pool.query<{ consumer: string; handled_at: Date | null }>(
      `SELECT c.consumer, d.handled_at
         FROM ${this.schema}.delivery_consumers c
         LEFT JOIN LATERAL (
           SELECT min(CASE WHEN first_number = last_number THEN first_handled_at ELSE last_handled_at END) AS handled_at
             FROM ${this.schema}.deliveries d
            WHERE d.consumer = c.consumer AND d.last_number >= $1 AND d.first_number <= $1) d ON true
        WHERE c.from_number <= $1
        ORDER BY c.consumer`,
      [row.event_number],
    );
    return {
      eventNumber: Number(row.event_number),
      eventId: row.event_id,
      type: row.event_type,
      streamId: row.stream_id,
      createdAt: row.created_at,
      consumers: rows.map((r) => ({
        consumer: r.consumer,
        status: r.handled_at ? 'handled' : row.overdue ? 'flagged' : 'pending',
        handledAt: r.handled_at,
      })),
    };
  }

  /** Events not acknowledged within `flagAfterMs`, oldest first, per consumer (or one). */
  async flagged(options: { consumer?: string; limit?: number } = {}): Promise<FlaggedDelivery[]> {
    const limit = options.limit ?? 100;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10_000) throw new InvalidArgumentError('limit', `must be 1-10000, got ${limit}`);
    const { rows } = await this.pool.query<{ consumer: string; event_number: string; event_id: string; event_type: string; stream_id: string; created_at: Date }>(
      `WITH flag AS (${this.flagLine()}),
       cov AS (
         SELECT c.consumer, c.from_number, coalesce(range_agg(int8range(d.first_number, d.last_number, '[]')) FILTER (WHERE d.consumer IS NOT NULL), '{}'::int8multirange) AS covered
           FROM ${this.schema}.delivery_consumers c
           LEFT JOIN ${this.schema}.deliveries d ON d.consumer = c.consumer
          WHERE $2::text IS NULL OR c.consumer = $2
          GROUP BY c.consumer, c.from_number)
       SELECT cov.consumer, e.event_number, e.event_id, e.event_type, e.stream_id, e.created_at
         FROM cov, flag, unnest(int8multirange(int8range(cov.from_number, greatest(cov.from_number, flag.n + 1))) - cov.covered) AS gap,
              LATERAL (SELECT p.event_number, e.event_id, e.event_type, e.stream_id, e.created_at FROM ${eventsInOrder(this.schema)}
                        WHERE p.event_number >= lower(gap) AND p.event_number < upper(gap)
                        ORDER BY p.event_number LIMIT $3) e
        ORDER BY e.event_number, cov.consumer
        LIMIT $3`,
      [this.flagAfterMs, options.consumer ?? null, limit],
    );
    return rows.map((r) => ({
      consumer: r.consumer,
      eventNumber: Number(r.event_number),
      eventId: r.event_id,
      type: r.event_type,
      streamId: r.stream_id,
      createdAt: r.created_at,
    }));
  }

  /**
   * The last event number older than `flagAfterMs`. Walks the log backwards from the head, so it
   * reads only the events of the last `flagAfterMs`.
   */
  private flagLine(): string {
    return `SELECT coalesce((SELECT p.event_number FROM ${eventsInOrder(this.schema)}
                               WHERE e.created_at < now() - $1 * interval '1 millisecond'
                               ORDER BY p.event_number DESC LIMIT 1), 0) AS n`;
  }
}
