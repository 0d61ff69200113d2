export { checkTable, TYPES, DEFAULT_EXPRESSIONS, type TableDefinition, type ColumnDefinition, type IndexDefinition } from './definition.js';
export { tableStatements, tableScript, indexesOf } from './ddl.js';
export { parseTables, MAX_TABLE_FILE_BYTES } from './yaml.js';
export { applyTables } from './apply.js';
