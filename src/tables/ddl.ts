/**
 * The SQL of a checked table definition: `CREATE TABLE` and its indexes, every identifier quoted,
 * every literal escaped (DDL takes no parameters). Pure.
 */
import { quoteIdent } from '../sql/identifiers.js';
import { parsePredicate, parseReference, type ColumnDefinition, type IndexDefinition, type TableDefinition } from './definition.js';

/** The statements that create `table` (in `schema` when given), in order. */
export function tableStatements(table: TableDefinition, schema?: string): string[] {
  const qualified = (name: string) => (schema ? `${quoteIdent(schema)}.${quoteIdent(name)}` : quoteIdent(name));
  const lines = table.columns.map((column) => `  ${columnSql(column, qualified)}`);
  if (table.primaryKey) lines.push(`  PRIMARY KEY (${table.primaryKey.map(quoteIdent).join(', ')})`);
  const create = `CREATE TABLE ${qualified(table.table)} (\n${lines.join(',\n')}\n)`;
  return [create, ...indexesOf(table).map((index) => indexSql(table.table, index, qualified))];
}

/** The indexes to create: as given, or for an outbox table without `indexes`, the undispatched-rows index. */
export function indexesOf(table: TableDefinition): readonly IndexDefinition[] {
  if (table.indexes) return table.indexes;
  const dispatched = table.columns.find((c) => c.name === 'dispatched_at' && c.nullable !== false && !c.pk);
  return dispatched ? [{ columns: ['dispatched_at'], where: 'dispatched_at IS NULL' }] : [];
}

/** The whole script: statements separated by `;` and a blank line. */
export function tableScript(tables: readonly TableDefinition[], schema?: string): string {
  return `${tables.flatMap((t) => tableStatements(t, schema)).join(';\n\n')};\n`;
}

function columnSql(column: ColumnDefinition, qualified: (name: string) => string): string {
  const parts = [quoteIdent(column.name), column.type.trim().toLowerCase()];
  if (column.pk) parts.push('PRIMARY KEY');
  else if (column.nullable === false) parts.push('NOT NULL');
  if (column.default !== undefined) parts.push(`DEFAULT ${defaultSql(column.default)}`);
  if (column.unique) parts.push('UNIQUE');
  const ref = column.references === undefined ? undefined : parseReference(column.references);
  if (ref) parts.push(`REFERENCES ${qualified(ref.table)} (${quoteIdent(ref.column)})${ref.onDelete ? ` ON DELETE ${ref.onDelete.toUpperCase()}` : ''}`);
  return parts.join(' ');
}

function defaultSql(value: NonNullable<ColumnDefinition['default']> | null): string {
  if (value === null) return 'NULL';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return literal(value);
  return value.sql.trim().toLowerCase();
}

/** A standard-conforming string literal (no backslash escapes): quotes doubled. */
export function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

function indexSql(table: string, index: IndexDefinition, qualified: (name: string) => string): string {
  // PostgreSQL's own default name, so an index from a file matches one made by `CREATE INDEX ON t (c)`.
  const name = index.name ?? `${table}_${index.columns.join('_')}_${index.unique ? 'key' : 'idx'}`.slice(0, 63);
  const where = index.where === undefined ? '' : ` WHERE ${predicateSql(index.where)}`;
  return `CREATE ${index.unique ? 'UNIQUE ' : ''}INDEX ${quoteIdent(name)} ON ${qualified(table)} (${index.columns.map(quoteIdent).join(', ')})${where}`;
}

function predicateSql(text: string): string {
  return parsePredicate(text)!
    .map((t) => {
      const column = quoteIdent(t.column);
      if (t.op === 'is null') return `${column} IS NULL`;
      if (t.op === 'is not null') return `${column} IS NOT NULL`;
      const value = typeof t.value === 'string' ? literal(t.value) : String(t.value);
      return `${column} ${t.op} ${value}`;
    })
    .join(' AND ');
}
