/**
 * Reads table definitions from YAML (one table per document; `---` separates several), with the
 * line and column of every problem; nothing is returned when anything is wrong.
 */
import { LineCounter, parseAllDocuments, type Node } from 'yaml';
import { ConfigFileError, type ConfigFileIssue } from '../errors.js';
import { formatPath } from '../config/shape.js';
import { checkTable, type TableDefinition } from './definition.js';

/** Table files larger than this are refused before parsing. */
export const MAX_TABLE_FILE_BYTES = 1024 * 1024;

/** Parses and checks `text` (named `file` in errors); throws {@link ConfigFileError} listing every problem. */
export function parseTables(text: string, file: string): TableDefinition[] {
  if (Buffer.byteLength(text) > MAX_TABLE_FILE_BYTES) throw new ConfigFileError(file, [{ path: '', message: `is ${Buffer.byteLength(text)} bytes; a table file must be at most ${MAX_TABLE_FILE_BYTES}` }]);
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number | undefined) => {
    if (offset === undefined) return {};
    const { line, col } = lines.linePos(offset);
    return { line, column: col };
  };
  const list = Array.isArray(docs) ? docs : [];
  if (!Array.isArray(docs)) return fail(file, [{ path: '', message: 'is not YAML' }]);
  const syntax: ConfigFileIssue[] = list.flatMap((doc) => [...doc.errors, ...doc.warnings].map((e) => ({ path: '', message: e.message.split('\n')[0]!, ...at(e.pos[0]) })));
  if (syntax.length > 0) return fail(file, syntax);
  const tables: TableDefinition[] = [];
  const issues: ConfigFileIssue[] = [];
  const names = new Map<string, number>();
  list.forEach((doc, d) => {
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (error) {
      issues.push({ path: '', message: (error as Error).message });
      return;
    }
    if (value === null && list.length > 1) return; // an empty document between separators
    const prefix = list.length > 1 ? [`[${d}]`] : [];
    const checked = checkTable(value);
    for (const issue of checked.issues) {
      let node: Node | undefined;
      for (let n = issue.path.length; n >= 0 && !node?.range; n--) node = doc.getIn(issue.path.slice(0, n), true) as Node | undefined;
      issues.push({ path: [...prefix, formatPath(issue.path)].filter(Boolean).join(' '), message: issue.message, ...at(node?.range?.[0]) });
    }
    if (checked.table) {
      const seen = names.get(checked.table.table);
      if (seen !== undefined) issues.push({ path: 'table', message: `table "${checked.table.table}" is defined twice (documents ${seen} and ${d})`, ...at(doc.contents?.range?.[0]) });
      names.set(checked.table.table, d);
      tables.push(checked.table);
    }
  });
  if (issues.length > 0) return fail(file, issues);
  if (tables.length === 0) return fail(file, [{ path: '', message: 'defines no table' }]);
  return tables;
}

function fail(file: string, issues: ConfigFileIssue[]): never {
  throw new ConfigFileError(file, issues);
}
