/** `herald schema FILE.yaml [--apply]`: a table file's SQL, printed or applied in one transaction. */
import { readFile, stat } from 'node:fs/promises';
import { openDatabase } from '../../database/index.js';
import { ConfigFileError } from '../../errors.js';
import { validateSqlName } from '../../sql/identifiers.js';
import { applyTables, MAX_TABLE_FILE_BYTES, parseTables, tableScript } from '../../tables/index.js';
import { UsageError } from '../exit.js';
import { json } from '../output.js';
import { parse } from '../session.js';
import type { Command } from './command.js';

export const schema: Command = {
  name: 'schema',
  summary: "print (or --apply) the SQL of tables written in the seed's YAML shape",
  usage: 'herald schema FILE.yaml [--schema NAME] [--apply --database-url URL]',
  options: { apply: { type: 'boolean' }, schema: { type: 'string' } },
  async run(args, output) {
    const session = parse(args, this.options, output);
    const [file, ...rest] = session.positionals;
    if (!file || rest.length > 0) throw new UsageError('name one table file');
    const size = await stat(file).then((s) => s.size, () => undefined);
    if (size === undefined) throw new ConfigFileError(file, [{ path: '', message: 'no such file' }]);
    if (size > MAX_TABLE_FILE_BYTES) throw new ConfigFileError(file, [{ path: '', message: `is ${size} bytes; a table file must be at most ${MAX_TABLE_FILE_BYTES}` }]);
    const tables = parseTables(await readFile(file, 'utf8'), file);
    const target = session.values.schema === undefined ? undefined : validateSqlName('schema', session.values.schema);
    const sql = tableScript(tables, target);
    if (!session.values.apply) return output.out(session.json ? json({ tables: tables.map((t) => t.table), sql }) : sql.trimEnd());
    const url = (session.values['database-url'] as string | undefined) ?? process.env.DATABASE_URL;
    if (!url) throw new UsageError('--apply needs --database-url URL (or DATABASE_URL)');
    const db = await openDatabase({ url, poolSize: 1 });
    try {
      await applyTables(db.pool, tables, target);
    } finally {
      await db.close();
    }
    output.out(session.json ? json({ applied: tables.map((t) => t.table), sql }) : `applied ${tables.map((t) => t.table).join(', ')} in one transaction`);
  },
};
