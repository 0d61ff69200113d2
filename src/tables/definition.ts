/**
 * Table definitions in the seed's YAML shape (`table:` + `columns:` of `{ name, type, pk, nullable }`)
 * plus `default`, `unique`, `references`, `primaryKey` and `indexes` (partial ones with `where`).
 * Pure: checks a parsed value and says what is wrong with each part, by path.
 */
import type { PathPart } from '../config/shape.js';
import { closest, describeValue, isPlainObject } from '../config/shape.js';

export interface ColumnDefinition {
  readonly name: string;
  /** A PostgreSQL type from {@link TYPES} (with its modifiers, e.g. `varchar(80)`, `numeric(12,2)`, `text[]`). */
  readonly type: string;
  readonly pk?: boolean;
  /** Default `true` (as in SQL); `pk` columns are never null. */
  readonly nullable?: boolean;
  /** A literal (string, number, boolean, null) or one of {@link DEFAULT_EXPRESSIONS}. */
  readonly default?: string | number | boolean | null | { readonly sql: string };
  readonly unique?: boolean;
  /** `other_table(column)`, or `{ table, column, onDelete }`. */
  readonly references?: string | { readonly table: string; readonly column: string; readonly onDelete?: 'cascade' | 'restrict' | 'set null' | 'no action' };
}

export interface IndexDefinition {
  /** Default: PostgreSQL's own name for it (`<table>_<columns>_idx`, `_key` when unique). */
  readonly name?: string;
  readonly columns: readonly string[];
  readonly unique?: boolean;
  /** A partial index's predicate: `col IS [NOT] NULL`, `col = literal`, `col <> literal`, joined by AND. */
  readonly where?: string;
}

export interface TableDefinition {
  readonly table: string;
  readonly columns: readonly ColumnDefinition[];
  /** A composite primary key (instead of `pk: true` on one column). */
  readonly primaryKey?: readonly string[];
  /**
   * Indexes. When absent and the table is an outbox (a nullable `dispatched_at` column), the index a
   * relay needs on undispatched rows is added; `indexes: []` means none.
   */
  readonly indexes?: readonly IndexDefinition[];
}

/** Types a table may use; arrays of them with `[]`. */
export const TYPES = [
  'smallint', 'integer', 'int', 'bigint', 'smallserial', 'serial', 'bigserial', 'numeric', 'decimal', 'real', 'double precision',
  'boolean', 'text', 'varchar', 'character varying', 'char', 'character', 'uuid', 'json', 'jsonb', 'bytea', 'date', 'time', 'timetz',
  'timestamp', 'timestamptz', 'interval', 'inet', 'cidr', 'citext',
] as const;

/** Expressions a default may be, besides literals. */
export const DEFAULT_EXPRESSIONS = ['now()', 'current_timestamp', 'current_date', 'gen_random_uuid()', 'clock_timestamp()'] as const;

const NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const TYPE = /^([a-z][a-z ]*?)(\(\s*\d+\s*(,\s*\d+\s*)?\))?(\[\])?$/;
const TABLE_KEYS = ['table', 'columns', 'primaryKey', 'indexes'];
const COLUMN_KEYS = ['name', 'type', 'pk', 'nullable', 'default', 'unique', 'references'];
const INDEX_KEYS = ['name', 'columns', 'unique', 'where'];
const ON_DELETE = ['cascade', 'restrict', 'set null', 'no action'];

export type TableIssue = { path: PathPart[]; message: string };

/** Checks one table definition; returns it typed when there is no issue. */
export function checkTable(value: unknown, at: PathPart[] = []): { table?: TableDefinition; issues: TableIssue[] } {
  const issues: TableIssue[] = [];
  const add = (path: PathPart[], message: string) => issues.push({ path: [...at, ...path], message });
  if (!isPlainObject(value)) return { issues: [{ path: at, message: `a table definition must be an object with \`table\` and \`columns\`, got ${describeValue(value)}` }] };
  unknownKeys(value, TABLE_KEYS, [], add);
  name(value.table, ['table'], add, 'table');
  const columns = Array.isArray(value.columns) ? value.columns : [];
  if (!Array.isArray(value.columns) || value.columns.length === 0) add(['columns'], `must be a non-empty list of columns, got ${describeValue(value.columns)}`);
  const seen = new Map<string, number>();
  const pks: number[] = [];
  columns.forEach((column: unknown, i: number) => {
    const path = ['columns', i];
    if (!isPlainObject(column)) return add(path, `must be an object { name, type, … }, got ${describeValue(column)}`);
    unknownKeys(column, COLUMN_KEYS, path, add);
    if (name(column.name, [...path, 'name'], add, 'column')) {
      const n = column.name as string;
      if (seen.has(n)) add([...path, 'name'], `duplicate column "${n}" (also columns[${seen.get(n)}])`);
      seen.set(n, i);
    }
    checkType(column.type, [...path, 'type'], add);
    for (const flag of ['pk', 'nullable', 'unique'] as const) {
      if (column[flag] !== undefined && typeof column[flag] !== 'boolean') add([...path, flag], `must be true or false, got ${describeValue(column[flag])}`);
    }
    if (column.pk === true) pks.push(i);
    if (column.pk === true && column.nullable === true) add([...path, 'nullable'], 'a primary key column cannot be nullable');
    if (column.default !== undefined) checkDefault(column.default, [...path, 'default'], add);
    if (column.references !== undefined) checkReference(column.references, [...path, 'references'], add);
  });
  if (pks.length > 1) {
    add(['columns', pks[1]!, 'pk'], `two primary keys (columns[${pks[0]}] and columns[${pks[1]}]): a table has one; for a composite key write primaryKey: [${pks.map((i) => (columns[i] as { name: string }).name).join(', ')}]`);
  }
  if (value.primaryKey !== undefined) {
    if (pks.length > 0) add(['primaryKey'], 'give the primary key either as primaryKey or as pk: true on a column, not both');
    columnList(value.primaryKey, ['primaryKey'], seen, add);
  }
  if (value.indexes !== undefined) {
    if (!Array.isArray(value.indexes)) add(['indexes'], `must be a list of indexes, got ${describeValue(value.indexes)}`);
    else
      value.indexes.forEach((index: unknown, i: number) => {
        const path = ['indexes', i];
        if (!isPlainObject(index)) return add(path, `must be an object { columns, unique?, where?, name? }, got ${describeValue(index)}`);
        unknownKeys(index, INDEX_KEYS, path, add);
        if (index.name !== undefined) name(index.name, [...path, 'name'], add, 'index');
        columnList(index.columns, [...path, 'columns'], seen, add);
        if (index.unique !== undefined && typeof index.unique !== 'boolean') add([...path, 'unique'], `must be true or false, got ${describeValue(index.unique)}`);
        if (index.where !== undefined) {
          if (typeof index.where !== 'string') add([...path, 'where'], `must be a predicate like "dispatched_at IS NULL", got ${describeValue(index.where)}`);
          else {
            const problem = predicateProblem(index.where, seen);
            if (problem) add([...path, 'where'], problem);
          }
        }
      });
  }
  return issues.length > 0 ? { issues } : { table: value as unknown as TableDefinition, issues };
}

function name(value: unknown, path: PathPart[], add: (p: PathPart[], m: string) => void, what: string): boolean {
  if (typeof value !== 'string' || !NAME.test(value)) {
    add(path, `${what} name ${describeValue(value)} is not acceptable: use 1-63 lower-case letters, digits and _, not starting with a digit`);
    return false;
  }
  if (value.startsWith('pg_')) {
    add(path, `${what} name "${value}": names starting with pg_ are reserved`);
    return false;
  }
  return true;
}

function checkType(value: unknown, path: PathPart[], add: (p: PathPart[], m: string) => void): void {
  const match = typeof value === 'string' ? TYPE.exec(value.trim().toLowerCase()) : null;
  const base = match?.[1]?.trim();
  if (!match || !base || !(TYPES as readonly string[]).includes(base)) {
    const hint = typeof value === 'string' ? closest(value.toLowerCase().replace(/\(.*$/, ''), TYPES) : undefined;
    add(path, `unknown type ${describeValue(value)}${hint ? ` (did you mean "${hint}"?)` : ''}; known: ${TYPES.join(', ')} (with (n[,m]) or [] where PostgreSQL allows)`);
  }
}

function checkDefault(value: unknown, path: PathPart[], add: (p: PathPart[], m: string) => void): void {
  if (value === null || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))) return;
  if (typeof value === 'string') {
    if (value.includes('\u0000')) add(path, 'a default cannot contain a NUL character');
    return;
  }
  if (isPlainObject(value) && Object.keys(value).length === 1 && typeof value.sql === 'string') {
    if (!(DEFAULT_EXPRESSIONS as readonly string[]).includes(value.sql.trim().toLowerCase())) {
      add(path, `default expression ${JSON.stringify(value.sql)} is not one Herald writes; use a literal or one of ${DEFAULT_EXPRESSIONS.join(', ')}`);
    }
    return;
  }
  add(path, `must be a literal (string, number, boolean, null) or { sql: ${DEFAULT_EXPRESSIONS.map((e) => JSON.stringify(e)).join(' | ')} }, got ${describeValue(value)}`);
}

function checkReference(value: unknown, path: PathPart[], add: (p: PathPart[], m: string) => void): void {
  const ref = parseReference(value);
  if (!ref) return add(path, `must be "other_table(column)" or { table, column, onDelete? }, got ${describeValue(value)}`);
  name(ref.table, path, add, 'referenced table');
  name(ref.column, path, add, 'referenced column');
  if (ref.onDelete !== undefined && !ON_DELETE.includes(ref.onDelete)) add([...path, 'onDelete'], `must be one of ${ON_DELETE.join(', ')}, got ${describeValue(ref.onDelete)}`);
}

/** `other(col)` or `{ table, column, onDelete }` as parts; undefined when neither. */
export function parseReference(value: unknown): { table: string; column: string; onDelete?: string } | undefined {
  if (typeof value === 'string') {
    const match = /^\s*([^\s()]+)\s*\(\s*([^\s()]+)\s*\)\s*$/.exec(value);
    return match ? { table: match[1]!, column: match[2]! } : undefined;
  }
  if (isPlainObject(value) && typeof value.table === 'string' && typeof value.column === 'string') {
    return { table: value.table, column: value.column, onDelete: value.onDelete as string | undefined };
  }
  return undefined;
}

function columnList(value: unknown, path: PathPart[], known: Map<string, number>, add: (p: PathPart[], m: string) => void): void {
  if (!Array.isArray(value) || value.length === 0) return add(path, `must be a non-empty list of column names, got ${describeValue(value)}`);
  value.forEach((column, i) => {
    if (typeof column !== 'string' || !known.has(column)) add([...path, i], `${describeValue(column)} is not a column of this table`);
  });
}

function unknownKeys(value: Record<string, unknown>, keys: readonly string[], path: PathPart[], add: (p: PathPart[], m: string) => void): void {
  for (const key of Object.keys(value)) {
    if (keys.includes(key)) continue;
    const hint = closest(key, keys);
    add([...path, key], `unknown key${hint ? ` (did you mean "${hint}"?)` : ''}; expected ${keys.join(', ')}`);
  }
}

/** One term of a partial index predicate. */
export type Term = { column: string; op: 'is null' | 'is not null' | '=' | '<>'; value?: string | number | boolean };

const TERM = /^\s*([a-z_][a-z0-9_]*)\s+(?:(is\s+not\s+null|is\s+null)|(=|<>|!=)\s*('(?:[^']|'')*'|-?\d+(?:\.\d+)?|true|false))\s*$/i;

/** Parses `a IS NULL AND b = 'x'` into terms; undefined when it is not in that small grammar. */
export function parsePredicate(text: string): Term[] | undefined {
  const terms: Term[] = [];
  for (const part of text.split(/\s+and\s+/i)) {
    const match = TERM.exec(part);
    if (!match) return undefined;
    const column = match[1]!;
    if (match[2]) terms.push({ column, op: /not/i.test(match[2]) ? 'is not null' : 'is null' });
    else {
      const raw = match[4]!;
      const value = raw.startsWith("'") ? raw.slice(1, -1).replace(/''/g, "'") : /^(true|false)$/i.test(raw) ? raw.toLowerCase() === 'true' : Number(raw);
      terms.push({ column, op: match[3] === '=' ? '=' : '<>', value });
    }
  }
  return terms;
}

function predicateProblem(text: string, columns: Map<string, number>): string | undefined {
  const terms = parsePredicate(text);
  if (!terms) return `${JSON.stringify(text)} is not a predicate Herald writes: use column IS [NOT] NULL, column = literal or column <> literal, joined by AND`;
  const unknown = terms.find((t) => !columns.has(t.column));
  return unknown ? `"${unknown.column}" is not a column of this table` : undefined;
}
