import type pg from 'pg';
import {
  type HeraldError,
  OutboxColumnError,
  OutboxIndexError,
  OutboxSequenceError,
  OutboxTableError,
  OutboxTableMissingError,
} from '../errors.js';
import { OUTBOX_FIELDS, type OutboxField, type OutboxSettings } from './options.js';

/** What the relay needs to know of a checked outbox table. */
export interface OutboxTable {
  readonly oid: number;
  readonly sequenceOid: number;
  /** The id sequence as `schema.name`, for messages. */
  readonly sequence: string;
  /** Each mapped field's base type name (`int8`, `jsonb`, `text`, …). */
  readonly types: Readonly<Partial<Record<OutboxField, string>>>;
}

/** The types each field accepts (domains count as their base type), and whether it must be NOT NULL. */
const RULES: Record<OutboxField, { types: readonly string[]; notNull: boolean | 'nullable' }> = {
  id: { types: ['int8', 'int4', 'int2'], notNull: true },
  aggregateId: { types: ['uuid', 'text', 'varchar', 'bpchar', 'int8', 'int4'], notNull: true },
  type: { types: ['text', 'varchar', 'bpchar'], notNull: true },
  payload: { types: ['jsonb', 'json', 'text', 'varchar'], notNull: false },
  occurredAt: { types: ['timestamptz'], notNull: true },
  dispatchedAt: { types: ['timestamptz'], notNull: 'nullable' },
  eventId: { types: ['uuid'], notNull: false },
  metadata: { types: ['jsonb', 'json'], notNull: false },
};

interface ColumnRow {
  name: string;
  attnum: number;
  not_null: boolean;
  type: string;
}

/**
 * Checks the mapped table in the catalog before its relay starts: it exists, every mapped column
 * exists with a type and nullability the relay can use, the id column is filled from a sequence
 * of its own with `CACHE 1` (cached ids are handed out of order across sessions, which a relay
 * reading by id would skip), and an index finds undispatched rows by id. Every problem is
 * reported, each as its own typed error (several at once in an {@link OutboxTableError}).
 */
export async function checkOutboxTable(pool: pg.Pool, settings: OutboxSettings): Promise<OutboxTable> {
  const name = settings.display;
  const { rows: tables } = await pool.query<{ oid: number; relkind: string }>(
    `SELECT c.oid::int8::float8 AS oid, c.relkind::text AS relkind FROM pg_catalog.pg_class c
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`,
    [settings.schema, settings.table],
  );
  const table = tables[0];
  if (!table) throw new OutboxTableMissingError(name);
  if (table.relkind !== 'r') {
    const what = table.relkind === 'p' ? 'a partitioned table (writers lock partitions, not it)' : table.relkind === 'v' ? 'a view' : `not a plain table (relkind ${table.relkind})`;
    throw new OutboxTableMissingError(name, `is ${what}: the relay needs a plain table`);
  }
  const { rows: columns } = await pool.query<ColumnRow>(
    `SELECT a.attname AS name, a.attnum::int AS attnum, a.attnotnull AS not_null,
            CASE WHEN t.typtype = 'd' THEN (SELECT b.typname FROM pg_catalog.pg_type b WHERE b.oid = t.typbasetype) ELSE t.typname END::text AS type
       FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
      WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped`,
    [table.oid],
  );
  const byName = new Map(columns.map((c) => [c.name, c]));
  const problems: HeraldError[] = [];
  const types: Partial<Record<OutboxField, string>> = {};
  for (const field of OUTBOX_FIELDS) {
    const column = settings.columns[field];
    if (column === undefined) continue;
    const found = byName.get(column);
    const problem = found ? columnProblem(name, field, column, found) : new OutboxColumnError(name, field, column, 'missing', 'does not exist');
    if (problem) problems.push(problem);
    else types[field] = found!.type;
  }
  const id = byName.get(settings.columns.id);
  let sequence: { oid: number; name: string } | undefined;
  if (types.id && id) {
    const found = await sequenceOf(pool, name, table.oid, id);
    if ('error' in found) problems.push(found.error);
    else sequence = found;
  }
  if (id && !(await hasIndex(pool, table.oid, id.attnum, settings.columns.dispatchedAt))) {
    problems.push(
      new OutboxIndexError(
        name,
        `no index finds undispatched rows by ${JSON.stringify(settings.columns.id)}: the relay reads rows after its checkpoint in id order, ` +
          `so give the table its primary key on ${JSON.stringify(settings.columns.id)}, or CREATE INDEX ON ${name} (${settings.columns.dispatchedAt}) WHERE ${settings.columns.dispatchedAt} IS NULL`,
      ),
    );
  }
  if (problems.length === 1) throw problems[0];
  if (problems.length > 1) throw new OutboxTableError(name, problems);
  return { oid: table.oid, sequenceOid: sequence!.oid, sequence: sequence!.name, types };
}

function columnProblem(table: string, field: OutboxField, column: string, found: ColumnRow): OutboxColumnError | undefined {
  const rule = RULES[field];
  if (!rule.types.includes(found.type)) {
    return new OutboxColumnError(table, field, column, 'type', `is of type ${found.type}; the relay takes ${rule.types.join(', ')} for ${field}`);
  }
  if (rule.notNull === true && !found.not_null) {
    return new OutboxColumnError(table, field, column, 'nullable', `may be NULL: a row without ${field} cannot be relayed (add NOT NULL)`);
  }
  if (rule.notNull === 'nullable' && found.not_null) {
    return new OutboxColumnError(table, field, column, 'not-nullable', 'is NOT NULL: it must be NULL until the row is dispatched');
  }
  return undefined;
}

/**
 * The sequence that fills the id column: its identity's, or the one its default calls (serial,
 * bigserial, `DEFAULT nextval(…)`). A sequence only owned by the column is not enough: writers
 * would take ids outside their INSERT. It must increase, not cycle, cache 1, and fill no other column.
 */
async function sequenceOf(pool: pg.Pool, table: string, oid: number, id: ColumnRow): Promise<{ oid: number; name: string } | { error: OutboxSequenceError }> {
  const { rows } = await pool.query<{ oid: number | null; name: string | null; cache: string; increment: string; cycle: boolean; shared: string[] }>(
    `WITH s AS (
       SELECT coalesce(
                (SELECT d.objid FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_class c ON c.oid = d.objid AND c.relkind = 'S'
                  WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass
                    AND d.refobjid = $1 AND d.refobjsubid = $2 AND d.deptype = 'i' LIMIT 1),
                (SELECT d.refobjid FROM pg_catalog.pg_attrdef ad
                   JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_attrdef'::regclass AND d.objid = ad.oid
                    AND d.refclassid = 'pg_catalog.pg_class'::regclass
                   JOIN pg_catalog.pg_class c ON c.oid = d.refobjid AND c.relkind = 'S'
                  WHERE ad.adrelid = $1 AND ad.adnum = $2 LIMIT 1)) AS oid)
     SELECT s.oid::int8::float8 AS oid, s.oid::regclass::text AS name, q.seqcache::text AS cache, q.seqincrement::text AS increment, q.seqcycle AS cycle,
            ARRAY(SELECT format('%s.%I', ad.adrelid::regclass, a.attname)
                    FROM pg_catalog.pg_depend d
                    JOIN pg_catalog.pg_attrdef ad ON d.classid = 'pg_catalog.pg_attrdef'::regclass AND d.objid = ad.oid
                    JOIN pg_catalog.pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
                   WHERE d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = s.oid
                     AND NOT (ad.adrelid = $1 AND ad.adnum = $2)) AS shared
       FROM s LEFT JOIN pg_catalog.pg_sequence q ON q.seqrelid = s.oid`,
    [oid, id.attnum],
  );
  const row = rows[0];
  const column = id.name;
  if (!row?.oid || !row.name) {
    return {
      error: new OutboxSequenceError(table, column, null, 'missing',
        `column ${JSON.stringify(column)} is not filled from a sequence: the relay orders rows by ids a sequence hands out as they are inserted (bigserial, serial or GENERATED … AS IDENTITY)`),
    };
  }
  const sequence = row.name;
  if (Number(row.cache) !== 1) {
    return {
      error: new OutboxSequenceError(table, column, sequence, 'cached',
        `sequence ${sequence} has CACHE ${row.cache}: each session takes ${row.cache} ids at once and hands them out later, so ids are not in insertion order across sessions and a relay reading by id would skip rows; run ALTER SEQUENCE ${sequence} CACHE 1`),
    };
  }
  if (Number(row.increment) <= 0) {
    return { error: new OutboxSequenceError(table, column, sequence, 'increment', `sequence ${sequence} counts down (INCREMENT ${row.increment}): the relay needs ids that increase`) };
  }
  if (row.cycle) {
    return { error: new OutboxSequenceError(table, column, sequence, 'cycle', `sequence ${sequence} is CYCLE: ids would start again; run ALTER SEQUENCE ${sequence} NO CYCLE`) };
  }
  if (row.shared.length > 0) {
    return {
      error: new OutboxSequenceError(table, column, sequence, 'shared',
        `sequence ${sequence} also fills ${row.shared.join(', ')}: ids taken for other tables are not covered by this table's writers' locks; give ${column} a sequence of its own`),
    };
  }
  return { oid: row.oid, name: sequence };
}

/** A valid btree index led by the id column (whole, or partial on undispatched rows), or a partial index on undispatched rows. */
async function hasIndex(pool: pg.Pool, oid: number, idAttnum: number, dispatched: string): Promise<boolean> {
  const { rows } = await pool.query(
    `SELECT 1 FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid JOIN pg_catalog.pg_am am ON am.oid = ic.relam
      WHERE i.indrelid = $1 AND i.indisvalid AND i.indisready AND am.amname = 'btree'
        AND ((i.indkey[0] = $2 AND (i.indpred IS NULL OR pg_catalog.pg_get_expr(i.indpred, i.indrelid) = format('(%s IS NULL)', quote_ident($3))))
          OR pg_catalog.pg_get_expr(i.indpred, i.indrelid) = format('(%s IS NULL)', quote_ident($3)))
      LIMIT 1`,
    [oid, idAttnum, dispatched],
  );
  return rows.length > 0;
}
