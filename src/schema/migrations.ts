import { quoteIdent } from '../sql/identifiers.js';
import { operationsSchemaSql } from './operations-schema.js';
import { v9OutboxRelays } from './v9-outbox.js';

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
 *
 * v5 makes `events` insert-only: event numbers move to `positions (event_number, id)`, which the
 * sequencer inserts into, and `events.event_number` is dropped (see v5).
 *
 * v6 adds the operator controls to `subscriptions`: a pause flag and reset requests (see v6).
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
  {
    version: 5,
    name: 'insert-only positions: the sequencer no longer rewrites events',
    sql: ({ schema: s, literal }) => `
-- Wait for the appends in flight and hold new ones (and any sequencer) off until this commits:
-- afterwards every row of events is committed or dead, none in flight.
LOCK TABLE ${s}.log_head IN EXCLUSIVE MODE;
LOCK TABLE ${s}.events IN ACCESS EXCLUSIVE MODE;

-- The log's order, apart from the events: one narrow row per sequenced event, only ever inserted.
-- Stamping an event used to UPDATE its row (a new version of the whole row, a new entry in every
-- index of events); now it is one small insert here.
CREATE TABLE ${s}.positions (
  event_number bigint NOT NULL,
  id           bigint NOT NULL,
  CONSTRAINT positions_pkey PRIMARY KEY (event_number),
  CONSTRAINT positions_id_key UNIQUE (id)
);
-- Numbers already given keep their value. Committed events not sequenced yet take the next ones,
-- in insertion order, as the sequencer would have given them.
INSERT INTO ${s}.positions (event_number, id)
SELECT event_number, id FROM ${s}.events WHERE event_number IS NOT NULL;
INSERT INTO ${s}.positions (event_number, id)
SELECT (SELECT coalesce(max(event_number), 0) FROM ${s}.positions) + row_number() OVER (ORDER BY id), id
  FROM ${s}.events WHERE event_number IS NULL;

-- What the sequencer has looked at: every id up to sequenced_through is sequenced, rolled back,
-- or a hole: an id it skipped because its row was not visible (in flight, or rolled back). Holes
-- are looked at again on every pass and forgotten once the transaction that took them is over
-- (see sequence_events()). Two generations: holes (its transactions all older than holes_xid)
-- and recent_holes (older than recent_xid, gathering since recent_since).
ALTER TABLE ${s}.log_head
  ADD COLUMN sequenced_through bigint         NOT NULL DEFAULT 0,
  ADD COLUMN holes             int8multirange NOT NULL DEFAULT '{}',
  ADD COLUMN holes_xid         xid8,
  ADD COLUMN recent_holes      int8multirange NOT NULL DEFAULT '{}',
  ADD COLUMN recent_xid        xid8,
  ADD COLUMN recent_since      timestamptz;
UPDATE ${s}.log_head SET
  sequenced_at = CASE WHEN last_event_number = (SELECT coalesce(max(event_number), 0) FROM ${s}.positions) THEN sequenced_at ELSE now() END,
  last_event_number = (SELECT coalesce(max(event_number), 0) FROM ${s}.positions),
  sequenced_through = (SELECT coalesce(max(id), 0) FROM ${s}.events);

DROP INDEX ${s}.events_unsequenced_idx;
-- Also drops events_event_number_key. Code still reading events.event_number fails loudly.
ALTER TABLE ${s}.events DROP COLUMN event_number;
-- The sequencer's scan (ids past sequenced_through, and holes) and the join from positions.
CREATE INDEX events_id_idx ON ${s}.events (id);

-- The appends as in v1, with one addition: the transaction takes its transaction id before its
-- rows take their ids (nextval), which the sequencer's hole bookkeeping relies on.
CREATE OR REPLACE FUNCTION ${s}.append_events(p_stream text, p_expected bigint, p_events jsonb)
RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE
  v_current bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('herald:' || ${literal}), hashtext(p_stream));
  PERFORM pg_current_xact_id(); -- before the INSERT takes the rows' ids (its own PERFORM: plpgsql's fast path)
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

CREATE OR REPLACE FUNCTION ${s}.append_event(p_stream text, p_expected bigint, p_id uuid, p_type text, p_data jsonb,
                                             p_metadata jsonb, p_causation text, p_correlation text)
RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE
  v_current bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('herald:' || ${literal}), hashtext(p_stream));
  PERFORM pg_current_xact_id(); -- before the INSERT takes the rows' ids (its own PERFORM: plpgsql's fast path)
  SELECT coalesce(max(stream_version), 0) INTO v_current FROM ${s}.events WHERE stream_id = p_stream;
  IF (p_expected >= 0 AND v_current <> p_expected) OR (p_expected = -2 AND v_current = 0) THEN
    RAISE EXCEPTION 'wrong expected version' USING ERRCODE = 'HE001', DETAIL = v_current::text;
  END IF;
  INSERT INTO ${s}.events (event_id, stream_id, stream_version, event_type, data, metadata, causation_id, correlation_id)
  VALUES (p_id, p_stream, v_current + 1, p_type, p_data, p_metadata, p_causation, p_correlation);
  RETURN v_current + 1;
END
$fn$;

-- Gives up to p_limit committed, unsequenced events the next event numbers: the visible ones
-- among the holes, then the visible ones past sequenced_through, in id order. Ids it passes over
-- (not visible) become holes. Why nothing is skipped:
-- - A hole's transaction T took its transaction id before the id (see append_event), so before the
--   snapshot that found the hole, so before this pass took its own transaction id X (after that
--   snapshot). Once the oldest running transaction is younger than X, T is over: a hole still
--   invisible then was rolled back and is forgotten.
-- - Per-stream order: version n+1 of a stream is appended only after version n committed, so a
--   snapshot that sees n+1 sees n, and n has the lower id: n is numbered first (or was already).
-- Concurrent sequencers queue on an advisory lock (one key, so it never matches the appends'
-- two-key stream locks; it takes no transaction id); what they read after it comes from a fresh
-- snapshot, so no event is numbered twice.
CREATE OR REPLACE FUNCTION ${s}.sequence_events(p_limit integer, p_channel text, OUT stamped bigint, OUT head bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
  h           record;          -- the log_head row
  v_xmin      xid8;
  v_found     bigint[];        -- visible events among the holes, in id order
  v_new       bigint[];        -- visible events past sequenced_through, in id order
  v_take      integer;
  v_through   bigint;
  v_truncated boolean := false;
  v_holes     int8multirange;
  v_recent    int8multirange;
  v_gaps      int8multirange := '{}';
BEGIN
  IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
    RAISE EXCEPTION 'sequence_events() must run in a transaction of its own';
  END IF;
  -- One sequencer at a time (see above).
  PERFORM pg_advisory_xact_lock(hashtext('herald:sequencer:' || ${literal}));
  SELECT * INTO h FROM ${s}.log_head;
  head := h.last_event_number;
  stamped := 0;
  -- Nothing to do, the common idle case: one index probe (max() reads the index from its end).
  IF isempty(h.holes) AND isempty(h.recent_holes) AND coalesce((SELECT max(id) FROM ${s}.events), 0) <= h.sequenced_through THEN
    RETURN;
  END IF;
  -- Taken before the snapshot below: a transaction over by now is over in that snapshot.
  v_xmin := pg_snapshot_xmin(pg_current_snapshot());
  -- One snapshot for both: if it sees a stream's version n+1, it sees version n.
  SELECT coalesce(array_agg(id ORDER BY id) FILTER (WHERE hole), '{}'), coalesce(array_agg(id ORDER BY id) FILTER (WHERE NOT hole), '{}')
    INTO v_found, v_new
    FROM (SELECT e.id, true AS hole
            FROM unnest(h.holes + h.recent_holes) AS r JOIN ${s}.events e ON e.id >= lower(r) AND e.id < upper(r)
          UNION ALL
          (SELECT id, false FROM ${s}.events WHERE id > h.sequenced_through ORDER BY id LIMIT p_limit)) AS c;
  IF cardinality(v_found) > p_limit THEN
    v_found := v_found[1:p_limit];
    v_truncated := true;
  END IF;
  v_take := least(cardinality(v_new), p_limit - cardinality(v_found));
  v_new := v_new[1:v_take];
  stamped := cardinality(v_found) + v_take;
  v_through := CASE WHEN v_take > 0 THEN v_new[v_take] ELSE h.sequenced_through END;

  v_holes := h.holes;
  v_recent := h.recent_holes;
  IF cardinality(v_found) > 0 THEN
    SELECT v_holes - m, v_recent - m INTO v_holes, v_recent
      FROM (SELECT range_agg(int8range(id, id, '[]')) AS m FROM unnest(v_found) AS id) AS d;
  END IF;
  IF NOT v_truncated THEN
    -- Every visible hole was stamped: the rest is invisible, for good once its transactions are over.
    IF v_xmin > h.holes_xid THEN v_holes := '{}'; END IF;
    IF v_xmin > h.recent_xid THEN v_recent := '{}'; END IF;
  END IF;
  IF isempty(v_holes) THEN
    v_holes := v_recent;
    h.holes_xid := h.recent_xid;
    v_recent := '{}';
  ELSIF NOT isempty(v_recent) AND h.recent_since < now() - interval '1 second' THEN
    -- A transaction stays open: fold the recent holes into the older ones, which change rarely.
    v_holes := v_holes + v_recent;
    h.holes_xid := greatest(h.holes_xid, h.recent_xid);
    v_recent := '{}';
  END IF;
  IF isempty(v_recent) THEN
    h.recent_since := NULL;
  END IF;
  -- Ids passed over on the way to v_through: not visible (in flight, or rolled back).
  IF v_through - h.sequenced_through > v_take THEN
    SELECT int8multirange(int8range(h.sequenced_through, v_through, '(]')) - range_agg(int8range(id, id, '[]'))
      INTO v_gaps FROM unnest(v_new) AS id;
    v_recent := v_recent + v_gaps;
    -- This transaction's id, taken after the snapshot that found the gaps.
    h.recent_xid := pg_current_xact_id();
    h.recent_since := coalesce(h.recent_since, now());
  END IF;

  IF stamped > 0 OR v_holes <> h.holes OR v_recent <> h.recent_holes THEN
    WITH stamp AS (
      INSERT INTO ${s}.positions (event_number, id)
      SELECT head + n, id FROM unnest(v_found || v_new) WITH ORDINALITY AS t(id, n)
    )
    UPDATE ${s}.log_head l SET
      last_event_number = head + stamped,
      sequenced_at      = CASE WHEN stamped > 0 THEN now() ELSE l.sequenced_at END,
      sequenced_through = v_through,
      -- An unchanged value keeps its stored copy (a large one is not written again).
      holes             = CASE WHEN l.holes = v_holes THEN l.holes ELSE v_holes END,
      holes_xid         = h.holes_xid,
      recent_holes      = CASE WHEN l.recent_holes = v_recent THEN l.recent_holes ELSE v_recent END,
      recent_xid        = h.recent_xid,
      recent_since      = h.recent_since;
  END IF;
  IF stamped > 0 THEN
    head := head + stamped;
    PERFORM pg_notify(p_channel, 's' || head::text);
  END IF;
END
$fn$;

-- Subscriptions wake up for the events numbered above.
SELECT pg_notify('herald_' || ${literal}, 's' || last_event_number::text) FROM ${s}.log_head;
`,
  },
  {
    version: 6,
    name: 'operator controls of subscriptions and relays: pause, resume, reset',
    sql: ({ schema: s }) => `
-- A pause is a flag beside the lease state, not a state of its own: its holder keeps the lease
-- (so no standby runs it), and neither a graceful stop (state 'stopped') nor a failure ('failed')
-- clears it, so it survives restarts. Status reports 'paused' from it.
ALTER TABLE ${s}.subscriptions
  ADD COLUMN paused_at          timestamptz,
  ADD COLUMN paused_by          text,
  ADD COLUMN paused_reason      text,
  -- When the holder had finished its batch in hand and stopped handling; NULL while it has not
  -- yet (and set at once when nobody holds the lease).
  ADD COLUMN pause_effective_at timestamptz,
  -- A reset waiting for the lease holder to carry it out between two batches: {id, to, by, at}.
  ADD COLUMN reset_request      jsonb,
  -- The last reset carried out: {id, from, to, by, at}.
  ADD COLUMN last_reset         jsonb;
`,
  },
  {
    version: 7,
    name: 'operator actions (frozen bulk retries and skips), audit log, search indexes',
    sql: ({ schema }) => operationsSchemaSql(schema),
  },
  v9OutboxRelays,
  {
    version: 10,
    name: 'sagas: instances, durable timeouts, unmatched events',
    sql: ({ schema: s }) => `
-- One row per saga instance (per correlation key): its state and where it is. Processing locks
-- the row, so one instance is never processed by two transactions at once, in any process.
CREATE TABLE ${s}.saga_instances (
  saga         text        NOT NULL,
  key          text        NOT NULL,
  status       text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'completed', 'compensated')),
  state        jsonb       NOT NULL,
  steps        text[]      NOT NULL DEFAULT '{}',
  version      integer     NOT NULL DEFAULT 0,
  reason       text,
  started_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  finished_at  timestamptz,
  PRIMARY KEY (saga, key)
);
CREATE INDEX saga_instances_status_idx ON ${s}.saga_instances (saga, status, updated_at);

-- Timeouts survive restarts: when due, a scheduler (any process) appends a SagaTimeoutFired event
-- to the log and marks the row fired in the same transaction; the saga handles it in order.
CREATE TABLE ${s}.saga_timeouts (
  saga       text        NOT NULL,
  key        text        NOT NULL,
  name       text        NOT NULL,
  due_at     timestamptz NOT NULL,
  data       jsonb       NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (saga, key, name)
);
CREATE INDEX saga_timeouts_due_idx ON ${s}.saga_timeouts (due_at);

-- Events a saga is interested in that found no instance (or a finished one): visible, not lost.
CREATE TABLE ${s}.saga_unmatched (
  saga         text        NOT NULL,
  event_number bigint      NOT NULL,
  event_id     uuid        NOT NULL,
  event_type   text        NOT NULL,
  key          text        NOT NULL,
  reason       text        NOT NULL,
  at           timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (saga, event_id)
);
`,
  },
  {
    version: 12,
    name: 'projections rebuilt blue/green',
    sql: ({ schema: s }) => `
-- Per projection: the version readers see (its views point at that version's tables) and the
-- version being built beside it, from the origin, by its own subscription.
CREATE TABLE ${s}.projections (
  name             text        PRIMARY KEY,
  live_version     integer     NOT NULL,
  building_version integer,
  tables           text[]      NOT NULL,
  switched_at      timestamptz
);
`,
  },
];
