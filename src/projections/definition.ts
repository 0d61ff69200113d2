import type pg from 'pg';
import { ConfigError } from '../errors.js';
import type { EventMetadata, RecordedEvent } from '../events/types.js';
import type { ErrorPolicy } from '../handlers/policy.js';
import { quoteIdent, validateSqlName } from '../sql/identifiers.js';
import type { HandlerContext, HandleResult } from '../subscriptions/definition.js';

/** The tables of one version of a projection: base name → quoted, schema-qualified table. */
export type ProjectionTables = Readonly<Record<string, string>>;

/**
 * A read model that can be rebuilt beside the live one (blue/green). Each `version` has its own
 * tables (`<table>_v<version>`); readers query a view per table (`<table>`) that points at the live
 * version. Bump `version` (a new shape, a fixed handler) and the new version is built from the
 * origin of the log by its own subscription while the live one keeps serving; once it has caught
 * up, the views switch to it in one transaction.
 */
export interface ProjectionDefinition {
  /** Stable name; its subscriptions are `projection:<name>:v<version>`. */
  readonly name: string;
  /** Whole number ≥ 1. */
  readonly version: number;
  /** Base names of its tables (each also the name of the view readers use). */
  readonly tables: readonly string[];
  /** Creates this version's tables (`tables.orders` is the quoted `"ctx"."orders_v2"`). Runs once per version. */
  setup(tx: pg.PoolClient, tables: ProjectionTables): Promise<void>;
  handle(event: RecordedEvent, metadata: EventMetadata, context: HandlerContext & { readonly tables: ProjectionTables }): HandleResult | Promise<HandleResult>;
  /** `'auto'` (default): switch once the new version caught up; `'manual'`: wait for `projections.switch()`. */
  readonly switch?: 'auto' | 'manual';
  readonly batchSize?: number;
  readonly onError?: ErrorPolicy;
}

/** Checks a definition; returns its validated name. */
export function checkProjection(definition: ProjectionDefinition): string {
  const fail = (message: string): never => {
    throw new ConfigError(`projection '${String(definition?.name)}': ${message}`);
  };
  const name = validateSqlName('projection', definition?.name);
  if (!Number.isSafeInteger(definition.version) || definition.version < 1) fail(`version must be a whole number ≥ 1, got ${JSON.stringify(definition.version)}`);
  if (!Array.isArray(definition.tables) || definition.tables.length === 0) fail('tables must list its tables');
  for (const table of definition.tables) {
    validateSqlName('projection table', table);
    if (`${table}_v${definition.version}`.length > 63) fail(`table '${table}' is too long for its versioned name`);
  }
  if (typeof definition.setup !== 'function' || typeof definition.handle !== 'function') fail('setup and handle must be functions');
  if (definition.switch !== undefined && definition.switch !== 'auto' && definition.switch !== 'manual') fail("switch must be 'auto' or 'manual'");
  return name;
}

/** The versioned tables of `version`, quoted and qualified. */
export function versionTables(quotedSchema: string, tables: readonly string[], version: number): ProjectionTables {
  return Object.fromEntries(tables.map((t) => [t, `${quotedSchema}.${quoteIdent(`${t}_v${version}`)}`]));
}

export function subscriptionName(name: string, version: number): string {
  return `projection:${name}:v${version}`;
}
