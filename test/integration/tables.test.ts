/**
 * The seed's orders_outbox in YAML gives the same table as the seed's SQL: both are applied to
 * PostgreSQL and their catalogs compared. Applying is all or nothing.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import type pg from 'pg';
import { applyTables, parseTables } from '../../src/tables/index.js';
import { createPool, dropContext, uniqueContext } from '../helpers/db.js';

/** Columns, constraints and indexes of `schema.table`, with the schema name taken out. */
async function catalog(pool: pg.Pool, schema: string, table: string) {
  const strip = (text: string | null) => text?.replaceAll(`${schema}.`, '').replaceAll(`"${schema}".`, '') ?? null;
  const { rows: columns } = await pool.query(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
            pg_get_expr(d.adbin, d.adrelid) AS default
       FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE a.attrelid = format('%I.%I', $1::text, $2::text)::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
    [schema, table],
  );
  const { rows: constraints } = await pool.query(
    `SELECT conname AS name, contype AS kind, pg_get_constraintdef(oid) AS definition FROM pg_constraint
      WHERE conrelid = format('%I.%I', $1::text, $2::text)::regclass ORDER BY conname`,
    [schema, table],
  );
  const { rows: indexes } = await pool.query(`SELECT indexname AS name, indexdef AS definition FROM pg_indexes WHERE schemaname = $1 AND tablename = $2 ORDER BY indexname`, [schema, table]);
  return {
    columns: columns.map((c) => ({ ...c, default: strip(c.default) })),
    constraints,
    indexes: indexes.map((i) => ({ ...i, definition: strip(i.definition) })),
  };
}

describe('tables from YAML', () => {
  const pool = createPool(3);
  const fromSql = uniqueContext('seedsql');
  const fromYaml = uniqueContext('seedyaml');
  after(async () => {
    await dropContext(pool, fromSql);
    await dropContext(pool, fromYaml);
    await pool.end();
  });

  it("the seed's YAML and the seed's SQL give the same catalog", async () => {
    const client = await pool.connect();
    try {
      await client.query(`CREATE SCHEMA "${fromSql}"; SET search_path TO "${fromSql}"`);
      await client.query(readFileSync('test/fixtures/tables/orders_outbox.sql', 'utf8'));
      await client.query('RESET search_path');
    } finally {
      client.release();
    }
    await pool.query(`CREATE SCHEMA "${fromYaml}"`);
    await applyTables(pool, parseTables(readFileSync('test/fixtures/tables/orders_outbox.yaml', 'utf8'), 'orders_outbox.yaml'), fromYaml);
    const expected = await catalog(pool, fromSql, 'orders_outbox');
    assert.equal(expected.columns.length, 6);
    assert.equal(expected.indexes.length, 2, 'the primary key and the partial index');
    assert.deepEqual(await catalog(pool, fromYaml, 'orders_outbox'), expected);
  });

  it('applies several tables in one transaction: all of them or none', async () => {
    const schema = uniqueContext('tables');
    await pool.query(`CREATE SCHEMA "${schema}"`);
    try {
      const tables = parseTables(
        `table: customers\ncolumns:\n  - { name: id, type: uuid, pk: true }\n---\ntable: orders\ncolumns:\n  - { name: id, type: uuid, pk: true }\n  - { name: customer_id, type: uuid, references: "nowhere(id)" }\n`,
        't.yaml',
      );
      await assert.rejects(applyTables(pool, tables, schema), /relation .*nowhere.* does not exist/);
      const { rows } = await pool.query('SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = $1', [schema]);
      assert.equal(rows[0].n, 0, 'the first table was rolled back with the second');
    } finally {
      await dropContext(pool, schema);
    }
  });
});
