/**
 * Where each projection stands (table `projections`): the live version readers see through the
 * views, and the version being built. Switching recreates the views in one transaction.
 */
import type pg from 'pg';
import { InvalidArgumentError } from '../errors.js';
import { quoteIdent } from '../sql/identifiers.js';
import { transaction } from '../sql/transaction.js';
import { versionTables } from './definition.js';

export interface ProjectionState {
  readonly name: string;
  readonly liveVersion: number | null;
  readonly buildingVersion: number | null;
  readonly tables: readonly string[];
  readonly switchedAt: Date | null;
}

export class ProjectionStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly quotedSchema: string,
  ) {}

  async read(name: string, db: pg.Pool | pg.ClientBase = this.pool): Promise<ProjectionState | undefined> {
    const { rows } = await db.query(`SELECT name, live_version, building_version, tables, switched_at FROM ${this.quotedSchema}.projections WHERE name = $1`, [name]);
    const r = rows[0];
    return r && { name: r.name, liveVersion: r.live_version, buildingVersion: r.building_version, tables: r.tables, switchedAt: r.switched_at };
  }

  /**
   * Makes sure `version` exists: its tables are set up once (`setup`), and it is recorded as live
   * (the first version of a projection) or as being built (a newer one). An older version than the
   * live one is refused: the views never go back silently.
   */
  async prepare(name: string, version: number, tables: readonly string[], setup: (tx: pg.PoolClient) => Promise<void>): Promise<'live' | 'building'> {
    return transaction(this.pool, async ({ client }) => {
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`herald:projection:${this.quotedSchema}:${name}`]);
      const state = await this.read(name, client);
      if (state?.liveVersion === version) return 'live';
      if (state?.liveVersion !== undefined && state.liveVersion !== null && version < state.liveVersion) {
        throw new InvalidArgumentError('version', `projection '${name}' is live at version ${state.liveVersion}; version ${version} is older (bump the version to rebuild)`);
      }
      if (state?.buildingVersion !== version) await setup(client);
      if (!state) {
        await client.query(`INSERT INTO ${this.quotedSchema}.projections (name, live_version, tables, switched_at) VALUES ($1, $2, $3, now())`, [name, version, tables]);
        await this.pointViews(client, tables, version);
        return 'live';
      }
      await client.query(`UPDATE ${this.quotedSchema}.projections SET building_version = $2 WHERE name = $1`, [name, version]);
      return 'building';
    });
  }

  /** Points the views at `version`'s tables and records it live, in one transaction. */
  async switchTo(name: string, version: number, tables: readonly string[]): Promise<void> {
    await transaction(this.pool, async ({ client }) => {
      await this.pointViews(client, tables, version);
      await client.query(`UPDATE ${this.quotedSchema}.projections SET live_version = $2, building_version = NULL, tables = $3, switched_at = now() WHERE name = $1`, [name, version, tables]);
    });
  }

  private async pointViews(tx: pg.ClientBase, tables: readonly string[], version: number): Promise<void> {
    const versioned = versionTables(this.quotedSchema, tables, version);
    for (const table of tables) {
      // DROP and CREATE (not CREATE OR REPLACE): a new version may have other columns. One
      // transaction, so readers see the old view or the new one, never none.
      await tx.query(`DROP VIEW IF EXISTS ${this.quotedSchema}.${quoteIdent(table)}`);
      await tx.query(`CREATE VIEW ${this.quotedSchema}.${quoteIdent(table)} AS SELECT * FROM ${versioned[table]}`);
    }
  }
}
