import type pg from 'pg';
import { transaction } from '../sql/transaction.js';
import { tableStatements } from './ddl.js';
import type { TableDefinition } from './definition.js';

/** Creates the tables (and their indexes) in one transaction: all of them, or none. */
export async function applyTables(pool: pg.Pool, tables: readonly TableDefinition[], schema?: string): Promise<void> {
  await transaction(pool, async (t) => {
    for (const table of tables) for (const statement of tableStatements(table, schema)) await t.client.query(statement);
  });
}
