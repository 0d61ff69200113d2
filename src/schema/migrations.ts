import { quoteIdent } from '../sql/identifiers.js';

/** One versioned step of a context schema. `sql` receives the quoted schema name. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  sql(schema: SchemaNames): string;
}

/** Names a migration may use; all already validated and quoted. */
export interface SchemaNames {
  /** Quoted schema identifier, e.g. `"orders"`. */
  readonly schema: string;
  /** The schema name as an SQL string literal, e.g. `'orders'`. */
  readonly literal: string;
}

export function schemaNames(schema: string): SchemaNames {
  return { schema: quoteIdent(schema), literal: `'${schema.replace(/'/g, "''")}'` };
}

/**
 * The migrations of a context schema, in order. Never edit a released one: add a new version.
 *
 * v1 lays down the log:
 * - `events`: one row per event. `id` is insertion order (used only by the sequencer);
 *   `event_number` is the gapless, commit-safe global position, NULL until sequenced.
 * - `append_events()`: the whole append in one round trip. It serialises appends per stream with a
 *   transaction-scoped advisory lock (pooler-safe), so a stream's next version can only commit after
 *   the previous one is visible — the property the sequencer's per-stream order rests on.
 * - `sequence_events()`: stamps visible, unsequenced rows in insertion order and notifies once.
 * - `subscriptions`: checkpoint, lease and state of every named subscription of this log.
 */
export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'event log, sequencer and subscriptions',
    sql: ({ schema: s, literal }) => `
CREATE TABLE ${s}.events (
  id             bigserial   NOT NULL,
  event_number   bigint,
  event_id       uuid        NOT NULL,
  stream_id      text        NOT NULL,
  stream_version bigint      NOT NULL,
  event_type     text        NOT NULL,
  data           jsonb       NOT NULL,
  metadata       jsonb       NOT NULL DEFAULT '{}',
  causation_id   text,
  correlation_id text,
  created_at     timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT events_pkey PRIMARY KEY (event_id),
  CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version)
);
CREATE UNIQUE INDEX events_event_number_key ON ${s}.events (event_number) WHERE event_number IS NOT NULL;
CREATE INDEX events_unsequenced_idx ON ${s}.events (id) WHERE event_number IS NULL;

CREATE TABLE ${s}.log_head (
  singleton         boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  last_event_number bigint  NOT NULL DEFAULT 0,
  sequenced_at      timestamptz
);
INSERT INTO ${s}.log_head DEFAULT VALUES;

CREATE TABLE ${s}.subscriptions (
  name             text        PRIMARY KEY,
  position         bigint      NOT NULL DEFAULT 0,
  consistency      text        NOT NULL DEFAULT 'eventual' CHECK (consistency IN ('eventual', 'strong')),
  state            text        NOT NULL DEFAULT 'stopped' CHECK (state IN ('running', 'stopped', 'failed')),
  reason           text,
  lease_owner      text,
  lease_expires_at timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);

-- p_expected: -1 any, -2 stream must exist, 0 stream must not exist, n > 0 exact version.
-- p_events: JSON array of {id, type, data, metadata, causation, correlation}.
CREATE FUNCTION ${s}.append_events(p_stream text, p_expected bigint, p_events jsonb)
RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE
  v_current bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('herald:' || ${literal}), hashtext(p_stream));
  -- A new statement, so a new snapshot (READ COMMITTED): sees every append that committed before the lock.
  SELECT coalesce(max(stream_version), 0) INTO v_current FROM ${s}.events WHERE stream_id = p_stream;
  IF (p_expected >= 0 AND v_current <> p_expected) OR (p_expected = -2 AND v_current = 0) THEN
    RAISE EXCEPTION 'wrong expected version' USING ERRCODE = 'HE001', DETAIL = v_current::text;
  END IF;
  INSERT INTO ${s}.events (event_id, stream_id, stream_version, event_type, data, metadata, causation_id, correlation_id)
  SELECT (e->>'id')::uuid, p_stream, v_current + i, e->>'type', e->'data', coalesce(e->'metadata', '{}'),
         e->>'causation', e->>'correlation'
  FROM jsonb_array_elements(p_events) WITH ORDINALITY AS t(e, i);
  RETURN v_current + jsonb_array_length(p_events);
END
$fn$;

-- The single-event append: the same steps without a JSON array to unpack.
CREATE FUNCTION ${s}.append_event(p_stream text, p_expected bigint, p_id uuid, p_type text, p_data jsonb,
                                  p_metadata jsonb, p_causation text, p_correlation text)
RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE
  v_current bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('herald:' || ${literal}), hashtext(p_stream));
  SELECT coalesce(max(stream_version), 0) INTO v_current FROM ${s}.events WHERE stream_id = p_stream;
  IF (p_expected >= 0 AND v_current <> p_expected) OR (p_expected = -2 AND v_current = 0) THEN
    RAISE EXCEPTION 'wrong expected version' USING ERRCODE = 'HE001', DETAIL = v_current::text;
  END IF;
  INSERT INTO ${s}.events (event_id, stream_id, stream_version, event_type, data, metadata, causation_id, correlation_id)
  VALUES (p_id, p_stream, v_current + 1, p_type, p_data, p_metadata, p_causation, p_correlation);
  RETURN v_current + 1;
END
$fn$;

-- Stamps up to p_limit committed, unsequenced events with the next event numbers.
-- Concurrent sequencers queue on the log_head row lock; the stamping statement runs after it,
-- with a fresh snapshot, so no row is numbered twice.
CREATE FUNCTION ${s}.sequence_events(p_limit integer, p_channel text, OUT stamped bigint, OUT head bigint)
LANGUAGE plpgsql AS $fn$
BEGIN
  stamped := 0;
  IF NOT EXISTS (SELECT 1 FROM ${s}.events WHERE event_number IS NULL) THEN
    SELECT last_event_number INTO head FROM ${s}.log_head;
    RETURN;
  END IF;
  -- Committed durably, like any write: an event number, once delivered, must never change.
  SELECT last_event_number INTO head FROM ${s}.log_head FOR UPDATE;
  WITH pending AS (
    SELECT id, row_number() OVER (ORDER BY id) AS rn
    FROM ${s}.events WHERE event_number IS NULL ORDER BY id LIMIT p_limit
  )
  UPDATE ${s}.events e SET event_number = head + pending.rn
  FROM pending WHERE e.id = pending.id AND e.event_number IS NULL;
  GET DIAGNOSTICS stamped = ROW_COUNT;
  IF stamped > 0 THEN
    head := head + stamped;
    UPDATE ${s}.log_head SET last_event_number = head, sequenced_at = now();
    PERFORM pg_notify(p_channel, 's' || head::text);
  END IF;
END
$fn$;
`,
  },
  {
    version: 2,
    name: 'parked events, subscription errors, inbox',
    sql: ({ schema: s }) => `
ALTER TABLE ${s}.subscriptions
  ADD COLUMN last_error    text,
  ADD COLUMN last_error_at timestamptz;

-- Events a subscription could not handle (status parked/scheduled/…), the events of the same
-- stream waiting behind them (status waiting), and the history of resolved ones.
CREATE TABLE ${s}.parked_events (
  subscription     text        NOT NULL,
  event_number     bigint      NOT NULL,
  event_id         uuid        NOT NULL,
  stream_id        text        NOT NULL,
  stream_version   bigint      NOT NULL,
  event_type       text        NOT NULL,
  status           text        NOT NULL CHECK (status IN
                     ('waiting', 'scheduled', 'parked', 'retry_requested', 'skip_requested', 'retrying', 'retried', 'skipped')),
  retry_at         timestamptz,
  error_type       text,
  error_message    text,
  error_stack      text,
  fingerprint      text,
  attempts         jsonb       NOT NULL DEFAULT '[]',
  failure_context  jsonb       NOT NULL DEFAULT '{}',
  first_failed_at  timestamptz,
  last_failed_at   timestamptz,
  parked_at        timestamptz NOT NULL DEFAULT now(),
  reason           text,
  resolved_at      timestamptz,
  PRIMARY KEY (subscription, event_number)
);
CREATE INDEX parked_events_open_idx ON ${s}.parked_events (subscription, stream_id, stream_version)
  WHERE status NOT IN ('retried', 'skipped');
CREATE INDEX parked_events_fingerprint_idx ON ${s}.parked_events (fingerprint) WHERE fingerprint IS NOT NULL;

-- The idempotent consumer: a message id is recorded in the transaction that handles it.
CREATE TABLE ${s}.inbox (
  consumer   text        NOT NULL,
  message_id text        NOT NULL,
  handled_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, message_id)
);
-- Rows arrive in handled_at order, so a BRIN index finds old ones for retention at almost no
-- cost per insert.
CREATE INDEX inbox_handled_at_idx ON ${s}.inbox USING brin (handled_at);
`,
  },
  {
    version: 3,
    name: 'consumers of other contexts, delivery receipts and acknowledgements',
    sql: ({ schema: s }) => `
-- Receiving side. Per consumer and sending context: the last stream version handled, so each
-- stream is handled in order whatever order the broker delivers in.
CREATE TABLE ${s}.consumer_streams (
  consumer   text        NOT NULL,
  source     text        NOT NULL,
  stream_id  text        NOT NULL,
  version    bigint      NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, source, stream_id)
);
-- Messages a consumer could not handle yet: held (an earlier version of its stream has not
-- arrived), parked (malformed, unknown type, invalid payload, a handler failure, or a gap that
-- did not close in time), and the history of resolved ones (retried, skipped). The raw body is
-- kept, so nothing received is ever lost.
CREATE TABLE ${s}.consumer_messages (
  consumer       text        NOT NULL,
  message_key    text        NOT NULL,
  source         text,
  stream_id      text,
  stream_version bigint,
  event_number   bigint,
  event_type     text,
  status         text        NOT NULL CHECK (status IN ('held', 'parked', 'retried', 'skipped')),
  body           bytea       NOT NULL,
  broker_id      text,
  reason         text,
  error_type     text,
  error_message  text,
  error_stack    text,
  fingerprint    text,
  attempts       integer     NOT NULL DEFAULT 0,
  -- Parked because earlier versions did not arrive: held again once they do.
  gap            boolean     NOT NULL DEFAULT false,
  received_at    timestamptz NOT NULL DEFAULT now(),
  parked_at      timestamptz,
  resolved_at    timestamptz,
  PRIMARY KEY (consumer, message_key)
);
CREATE INDEX consumer_messages_open_idx ON ${s}.consumer_messages (consumer, source, stream_id, stream_version)
  WHERE status IN ('held', 'parked');
-- Receipts of handled events, written in the handling transaction and sent back to the sender in
-- batches (then deleted): an outbox of acknowledgements. Heap only, no index: rows are short-lived.
CREATE TABLE ${s}.delivery_receipts (
  consumer     text        NOT NULL,
  source       text        NOT NULL,
  event_number bigint      NOT NULL,
  handled_at   timestamptz NOT NULL DEFAULT now()
);

-- Sending side. Ranges of this log's event numbers each consumer reported handled, one row per
-- range of an acknowledgement message; nothing is written per event on the append path.
CREATE TABLE ${s}.deliveries (
  consumer         text        NOT NULL,
  first_number     bigint      NOT NULL,
  last_number      bigint      NOT NULL,
  first_handled_at timestamptz NOT NULL,
  last_handled_at  timestamptz NOT NULL,
  received_at      timestamptz NOT NULL DEFAULT now(),
  CHECK (first_number <= last_number)
);
CREATE INDEX deliveries_consumer_idx ON ${s}.deliveries (consumer, last_number);
-- Consumers the sender knows: declared as expected, or seen in an acknowledgement.
CREATE TABLE ${s}.delivery_consumers (
  consumer      text        PRIMARY KEY,
  expected      boolean     NOT NULL DEFAULT false,
  -- Events before this number do not count for this consumer (it joined later).
  from_number   bigint      NOT NULL DEFAULT 1,
  first_seen_at timestamptz NOT NULL DEFAULT now(),
  last_ack_at   timestamptz
);
`,
  },
  {
    version: 4,
    name: 'durable consumer failures, operator requests, subscription restarts',
    sql: ({ schema: s }) => `
-- Consumer messages fail the way subscription events do: an automatic retry is a stored row
-- (scheduled, with its due time and attempt history), so attempt 3 after a restart is attempt 3;
-- operators' retries and skips are requests any process running the consumer carries out.
ALTER TABLE ${s}.consumer_messages DROP CONSTRAINT consumer_messages_status_check;
ALTER TABLE ${s}.consumer_messages ADD CONSTRAINT consumer_messages_status_check CHECK (status IN
  ('held', 'scheduled', 'parked', 'retry_requested', 'skip_requested', 'retried', 'skipped'));
ALTER TABLE ${s}.consumer_messages
  ADD COLUMN retry_at        timestamptz,
  ADD COLUMN attempt_history jsonb NOT NULL DEFAULT '[]',
  ADD COLUMN failure_context jsonb NOT NULL DEFAULT '{}',
  ADD COLUMN first_failed_at timestamptz,
  ADD COLUMN last_failed_at  timestamptz;
DROP INDEX ${s}.consumer_messages_open_idx;
CREATE INDEX consumer_messages_open_idx ON ${s}.consumer_messages (consumer, source, stream_id, stream_version)
  WHERE status NOT IN ('retried', 'skipped');
CREATE INDEX consumer_messages_fingerprint_idx ON ${s}.consumer_messages (fingerprint) WHERE fingerprint IS NOT NULL;

-- A subscription stopped by its policy may restart by itself (its restart option), with backoff:
-- when it is due, any process that has it registered takes it again. Progress resets the count.
ALTER TABLE ${s}.subscriptions
  ADD COLUMN restarts   integer NOT NULL DEFAULT 0,
  ADD COLUMN restart_at timestamptz;

-- A parked event's history keeps its latest attempts; the count goes on past them.
ALTER TABLE ${s}.parked_events ADD COLUMN attempt_count integer NOT NULL DEFAULT 0;
UPDATE ${s}.parked_events SET attempt_count = jsonb_array_length(attempts);
`,
  },
];
