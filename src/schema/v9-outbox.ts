/** v9: relays of applications' own outbox tables (src/outbox/). Plain SQL; never edit it, add a version. */
export const v9OutboxRelays = {
  version: 9,
  name: "relays of applications' own outbox tables: stream versions and the watermark",
  sql: ({ schema: s }: { readonly schema: string }): string => `
-- Relays of an application's own outbox table (src/outbox/). Each row published gets the next
-- version of its aggregate, assigned in id order and stored before it is published, so a row
-- published again after a crash carries the same version. outbox_streams holds each aggregate's
-- last version; outbox_versions the versions of rows the relay's checkpoint has not passed yet
-- (and of parked ones), pruned behind it.
CREATE TABLE ${s}.outbox_streams (
  outbox       text   NOT NULL,
  aggregate_id text   NOT NULL,
  version      bigint NOT NULL,
  PRIMARY KEY (outbox, aggregate_id)
);
CREATE TABLE ${s}.outbox_versions (
  outbox  text   NOT NULL,
  row_id  bigint NOT NULL,
  version bigint NOT NULL,
  PRIMARY KEY (outbox, row_id)
);

-- One look at an outbox table's writers, in this order (each statement of a volatile function
-- reads with a fresh snapshot): the id sequence's last value S, then every transaction holding a
-- RowExclusiveLock on the table (granted or waiting), then the sequence's cache. A transaction
-- that took an id <= S did so inside an INSERT into the table, which took that lock before
-- nextval() and keeps it until the transaction ends: it is in writers, or it has ended. Once
-- every one of them has ended, every id <= S is settled (committed and visible, or rolled back).
CREATE FUNCTION ${s}.outbox_writers(p_sequence regclass, p_table oid,
                                    OUT last_value bigint, OUT writers text[], OUT cache bigint)
LANGUAGE plpgsql VOLATILE AS $fn$
BEGIN
  EXECUTE format('SELECT CASE WHEN is_called THEN last_value END FROM %s', p_sequence) INTO last_value;
  SELECT coalesce(array_agg(DISTINCT l.virtualtransaction), '{}') INTO writers
    FROM pg_catalog.pg_locks l
   WHERE l.locktype = 'relation' AND l.relation = p_table AND l.mode = 'RowExclusiveLock'
     AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database());
  SELECT seqcache INTO cache FROM pg_catalog.pg_sequence WHERE seqrelid = p_sequence;
END
$fn$;
`,
};
