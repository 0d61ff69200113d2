/**
 * Projections that rebuild blue/green: `registerProjection(herald, definition)` runs the
 * definition's version as a subscription of its own into its own tables; a newer version builds
 * from the origin beside the live one (which keeps serving) and the views switch once it caught up.
 */
import type { Herald } from '../herald.js';
import { readHead } from '../log/read.js';
import { Wakeup } from '../runtime/wakeup.js';
import { quoteIdent } from '../sql/identifiers.js';
import { checkProjection, type ProjectionDefinition, subscriptionName, versionTables } from './definition.js';
import { ProjectionStore, type ProjectionState } from './store.js';

export { type ProjectionDefinition, type ProjectionTables, versionTables } from './definition.js';
export type { ProjectionState } from './store.js';

/** Where a projection's build stands. */
export interface ProjectionProgress extends ProjectionState {
  /** This process's version (the definition's). */
  readonly version: number;
  /** Its subscription's position, the log's head, and how far along it is (0…1). */
  readonly position: number;
  readonly head: number;
  readonly progress: number;
}

export interface RegisteredProjection {
  /** Live and building versions, and the build's progress. */
  status(): Promise<ProjectionProgress>;
  /** Switches the views to this version now (with `switch: 'manual'`, or to force it). */
  switchNow(): Promise<void>;
}

export function registerProjection(herald: Herald, definition: ProjectionDefinition, options: { checkEveryMs?: number } = {}): RegisteredProjection {
  const name = checkProjection(definition);
  const schema = quoteIdent(herald.context);
  const store = new ProjectionStore(herald.pool, schema);
  const tables = versionTables(schema, definition.tables, definition.version);
  const subscription = subscriptionName(name, definition.version);
  let role: 'live' | 'building' | undefined;
  herald.subscribe({
    name: subscription,
    startFrom: 'origin',
    batchSize: definition.batchSize,
    onError: definition.onError,
    // Each process that takes the subscription makes sure its version's tables exist first.
    init: async () => {
      role = await store.prepare(name, definition.version, definition.tables, (tx) => definition.setup(tx, tables));
    },
    handle: (event, metadata, context) => definition.handle(event, metadata, { ...context, tables }),
  });
  const status = async (): Promise<ProjectionProgress> => {
    const [state, head, subs] = await Promise.all([store.read(name), readHead(herald.pool, schema), herald.pool.query<{ position: string }>(`SELECT position FROM ${schema}.subscriptions WHERE name = $1`, [subscription])]);
    const position = Number(subs.rows[0]?.position ?? 0);
    return {
      name,
      liveVersion: state?.liveVersion ?? null,
      buildingVersion: state?.buildingVersion ?? null,
      tables: state?.tables ?? definition.tables,
      switchedAt: state?.switchedAt ?? null,
      version: definition.version,
      position,
      head,
      progress: head === 0 ? 1 : Math.min(1, position / head),
    };
  };
  const switchNow = () => store.switchTo(name, definition.version, definition.tables);
  // The switch: whichever process sees the build caught up does it (it is idempotent).
  const wakeup = new Wakeup();
  let running = false;
  let loop: Promise<void> | undefined;
  herald.attach({
    async start() {
      running = true;
      loop = (async () => {
        while (running) {
          await wakeup.wait(options.checkEveryMs ?? 250);
          if (!running || definition.switch === 'manual' || role === 'live') continue;
          const now = await status().catch(() => undefined);
          if (now?.buildingVersion === definition.version && now.position >= now.head) {
            await switchNow().catch(() => undefined);
            role = 'live';
          }
        }
      })();
    },
    async stop() {
      running = false;
      wakeup.notify();
      await loop;
    },
  });
  return { status, switchNow };
}
