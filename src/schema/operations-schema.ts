/**
 * The SQL of schema v7 (see `migrations.ts`): what operators need beyond the parked rows. Kept in
 * its own file because `migrations.ts` is long; `schema` is the quoted schema name.
 *
 * - `operator_actions` + `operator_action_members`: a bulk retry or skip is frozen first: the keys
 *   that matched its filter at that moment are stored, and running it acts on those only (new
 *   failures that match later are not touched).
 * - `audit_log`: one row per operator action (who, what, target, filter, count, outcome).
 * - Indexes for searching the log by correlation id, by type and time, and by time alone. Each is
 *   one more entry per append; the type and time ones grow at their right edge (cheap), the
 *   correlation one is partial (events with a correlation id only).
 */
export function operationsSchemaSql(schema: string): string {
  const s = schema;
  return `
CREATE TABLE ${s}.operator_actions (
  id               bigserial   PRIMARY KEY,
  kind             text        NOT NULL CHECK (kind IN ('retry', 'skip')),
  -- parked events of subscriptions and relays, or stored messages of consumers
  target           text        NOT NULL CHECK (target IN ('events', 'messages')),
  filter           jsonb       NOT NULL,
  reason           text,
  status           text        NOT NULL DEFAULT 'frozen'
                     CHECK (status IN ('frozen', 'running', 'settling', 'finished', 'cancelled', 'failed')),
  total            integer     NOT NULL,
  -- requests written and waiting for the lease holder; carried out; failed again; resolved before
  -- their turn (by someone else, or the automatic retry); busy with another request at their turn
  requested        integer     NOT NULL DEFAULT 0,
  done             integer     NOT NULL DEFAULT 0,
  failed           integer     NOT NULL DEFAULT 0,
  already_resolved integer     NOT NULL DEFAULT 0,
  busy             integer     NOT NULL DEFAULT 0,
  requested_by     text        NOT NULL,
  -- the process running it, and when it last showed it is alive (another may take over later)
  runner           text,
  heartbeat_at     timestamptz,
  error            text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  started_at       timestamptz,
  finished_at      timestamptz
);

CREATE TABLE ${s}.operator_action_members (
  action_id bigint NOT NULL REFERENCES ${s}.operator_actions (id) ON DELETE CASCADE,
  -- the subscription (events) or consumer (messages)
  owner     text   NOT NULL,
  -- the event number (events) or message key (messages)
  item_key  text   NOT NULL,
  outcome   text   CHECK (outcome IN ('requested', 'done', 'failed', 'already_resolved', 'busy')),
  detail    text,
  PRIMARY KEY (action_id, owner, item_key)
);
-- The run takes chunks of members not acted on yet, then settles the requested ones.
CREATE INDEX operator_action_members_pending_idx ON ${s}.operator_action_members (action_id, owner, item_key) WHERE outcome IS NULL;
CREATE INDEX operator_action_members_requested_idx ON ${s}.operator_action_members (action_id, owner, item_key) WHERE outcome = 'requested';

CREATE TABLE ${s}.audit_log (
  id      bigserial   PRIMARY KEY,
  at      timestamptz NOT NULL DEFAULT now(),
  actor   text        NOT NULL,
  action  text        NOT NULL,
  target  text,
  filter  jsonb,
  count   integer,
  outcome text        NOT NULL,
  detail  jsonb       NOT NULL DEFAULT '{}'
);

CREATE INDEX events_correlation_idx ON ${s}.events (correlation_id) WHERE correlation_id IS NOT NULL;
CREATE INDEX events_type_created_idx ON ${s}.events (event_type, created_at, id);
CREATE INDEX events_created_idx ON ${s}.events (created_at, id);
`;
}
