import { NotMigratedError } from '../errors.js';
import { quoteIdent } from '../sql/identifiers.js';
import { transaction } from '../sql/transaction.js';
import type pg from 'pg';
import { validateSqlName } from '../sql/identifiers.js';
import { type Migration, migrations as builtIn, schemaNames } from './migrations.js';

/** What {@link migrate} did. */
export interface MigrateResult {
  readonly schema: string;
  /** Versions applied by this call (empty when the schema was already up to date). */
  readonly applied: readonly number[];
  readonly version: number;
}

/**
 * Creates or upgrades a context's schema. Idempotent, and safe when several processes start at
 * once: all steps run in one transaction behind a transaction-scoped advisory lock, so the second
 * process waits, then finds nothing left to do. A failed step rolls the whole upgrade back.
 */
export async function migrate(pool: pg.Pool, schema: string, list: readonly Migration[] = builtIn): Promise<MigrateResult> {
  validateSqlName('context schema', schema);
  const names = schemaNames(schema);
  return transaction(pool, async ({ client }) => {
    await client.query("SELECT pg_advisory_xact_lock(hashtext('herald:migrate'), hashtext($1))", [schema]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${names.schema}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${names.schema}.schema_migrations (
         version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const { rows } = await client.query<{ version: number }>(`SELECT version FROM ${names.schema}.schema_migrations`);
    const done = new Set(rows.map((r) => r.version));
    const applied: number[] = [];
    for (const migration of [...list].sort((a, b) => a.version - b.version)) {
      if (done.has(migration.version)) continue;
      await client.query(migration.sql(names));
      await client.query(`INSERT INTO ${names.schema}.schema_migrations (version, name) VALUES ($1, $2)`, [migration.version, migration.name]);
      applied.push(migration.version);
    }
    return { schema, applied, version: Math.max(0, ...done, ...applied) };
  });
}

/** Throws `NotMigratedError` unless the context's schema has every migration this version of Herald needs. */
export async function assertMigrated(pool: pg.Pool, context: string, list: readonly Migration[] = builtIn): Promise<void> {
  const latest = Math.max(...list.map((m) => m.version));
  const schema = quoteIdent(context);
  const { rows: found } = await pool.query<{ table: string | null }>('SELECT to_regclass($1)::text AS table', [`${schema}.schema_migrations`]);
  const { rows } = found[0]?.table ? await pool.query<{ version: number }>(`SELECT version FROM ${schema}.schema_migrations`) : { rows: [] };
  const done = new Set(rows.map((r) => r.version));
  // Every version, not only the highest: migrations added out of order must not be skipped.
  if (list.some((m) => !done.has(m.version))) throw new NotMigratedError(context, Math.max(0, ...done), latest);
}
