import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ConfigFileError } from '../errors.js';
import { tableScript } from './ddl.js';
import { parseTables } from './yaml.js';

const problems = (text: string) => {
  try {
    parseTables(text, 't.yaml');
  } catch (error) {
    assert.ok(error instanceof ConfigFileError, String(error));
    return error.issues.map((i) => `${i.line ?? '-'}:${i.column ?? '-'} ${i.path}: ${i.message}`);
  }
  return assert.fail('expected problems');
};

describe('tables in the seed YAML shape', () => {
  it("the seed's orders_outbox gives its CREATE TABLE and the undispatched-rows index", () => {
    const tables = parseTables(readFileSync('test/fixtures/tables/orders_outbox.yaml', 'utf8'), 'orders_outbox.yaml');
    assert.equal(
      tableScript(tables),
      `CREATE TABLE "orders_outbox" (
  "id" bigserial PRIMARY KEY,
  "aggregate_id" uuid NOT NULL,
  "event_type" text NOT NULL,
  "payload" jsonb NOT NULL,
  "occurred_at" timestamptz NOT NULL,
  "dispatched_at" timestamptz
);

CREATE INDEX "orders_outbox_dispatched_at_idx" ON "orders_outbox" ("dispatched_at") WHERE "dispatched_at" IS NULL;
`,
    );
  });

  it('defaults, unique, references, composite keys, partial indexes; literals escaped', () => {
    const [table] = parseTables(
      `table: lines
columns:
  - { name: order_id, type: uuid, references: "orders(id)" }
  - { name: n, type: integer }
  - { name: note, type: "varchar(80)", default: "it's" }
  - { name: sku, type: text, unique: true, references: { table: skus, column: code, onDelete: cascade } }
  - { name: at, type: timestamptz, default: { sql: now() } }
  - { name: state, type: text, nullable: false, default: open }
primaryKey: [order_id, n]
indexes:
  - { columns: [state, at], where: "state <> 'closed' AND at IS NOT NULL" }
  - { name: lines_note_key, columns: [note], unique: true }
`,
      't.yaml',
    );
    assert.equal(
      tableScript([table!], 'shop'),
      `CREATE TABLE "shop"."lines" (
  "order_id" uuid REFERENCES "shop"."orders" ("id"),
  "n" integer,
  "note" varchar(80) DEFAULT 'it''s',
  "sku" text UNIQUE REFERENCES "shop"."skus" ("code") ON DELETE CASCADE,
  "at" timestamptz DEFAULT now(),
  "state" text NOT NULL DEFAULT 'open',
  PRIMARY KEY ("order_id", "n")
);

CREATE INDEX "lines_state_at_idx" ON "shop"."lines" ("state", "at") WHERE "state" <> 'closed' AND "at" IS NOT NULL;

CREATE UNIQUE INDEX "lines_note_key" ON "shop"."lines" ("note");
`,
    );
  });

  it('bad input: each problem with its line and column, nothing returned', () => {
    assert.deepEqual(problems('table: t\ncolumns: [ { name: a, type: text }\n'), ['3:1 : Flow sequence in block collection must be sufficiently indented and end with a ]']);
    assert.deepEqual(problems('table: t\ncolumns:\n  - { name: a, type: txet }\n'), [
      '3:22 columns[0].type: unknown type "txet" (did you mean "text"?); known: smallint, integer, int, bigint, smallserial, serial, bigserial, numeric, decimal, real, double precision, boolean, text, varchar, character varying, char, character, uuid, json, jsonb, bytea, date, time, timetz, timestamp, timestamptz, interval, inet, cidr, citext (with (n[,m]) or [] where PostgreSQL allows)',
    ]);
    assert.deepEqual(problems('table: t\ncolumns:\n  - { name: a, type: text }\n  - { name: a, type: int }\n'), ['4:13 columns[1].name: duplicate column "a" (also columns[0])']);
    assert.deepEqual(problems('table: t\ncolumns:\n  - { name: a, type: int, pk: true }\n  - { name: b, type: int, pk: true }\n'), [
      '4:31 columns[1].pk: two primary keys (columns[0] and columns[1]): a table has one; for a composite key write primaryKey: [a, b]',
    ]);
    assert.deepEqual(problems('table: t\ncolumns:\n  - { type: int }\n'), ['3:5 columns[0].name: column name nothing is not acceptable: use 1-63 lower-case letters, digits and _, not starting with a digit']);
    assert.deepEqual(problems('table: "t; DROP TABLE x"\ncolumns:\n  - { name: "a\\"b", type: "int); DROP TABLE y; --" }\n'), [
      '1:8 table: table name "t; DROP TABLE x" is not acceptable: use 1-63 lower-case letters, digits and _, not starting with a digit',
      '3:13 columns[0].name: column name "a\\"b" is not acceptable: use 1-63 lower-case letters, digits and _, not starting with a digit',
      '3:27 columns[0].type: unknown type "int); DROP TABLE y; --"; known: smallint, integer, int, bigint, smallserial, serial, bigserial, numeric, decimal, real, double precision, boolean, text, varchar, character varying, char, character, uuid, json, jsonb, bytea, date, time, timetz, timestamp, timestamptz, interval, inet, cidr, citext (with (n[,m]) or [] where PostgreSQL allows)',
    ]);
    assert.deepEqual(problems('table: t\ncolumns:\n  - { name: a, type: int, default: { sql: "1); DROP TABLE x; --" } }\nindexes:\n  - { columns: [a], where: "a > 1 OR true" }\n'), [
      '3:36 columns[0].default: default expression "1); DROP TABLE x; --" is not one Herald writes; use a literal or one of now(), current_timestamp, current_date, gen_random_uuid(), clock_timestamp()',
      '5:28 indexes[0].where: "a > 1 OR true" is not a predicate Herald writes: use column IS [NOT] NULL, column = literal or column <> literal, joined by AND',
    ]);
    assert.deepEqual(problems('table: t\ncolumns:\n  - { name: a, type: int, nulable: true }\n'), ['3:36 columns[0].nulable: unknown key (did you mean "nullable"?); expected name, type, pk, nullable, default, unique, references']);
    assert.match(problems(`table: t\ncolumns:\n  - { name: a, type: int }\n# ${'x'.repeat(10 * 1024 * 1024)}\n`)[0]!, /at most 1048576/);
  });
});
