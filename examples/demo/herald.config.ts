/**
 * The demo's contexts for the `herald` command, e.g. after `npm start`:
 *
 *   npm run herald -- status --config examples/demo/herald.config.ts
 *   npm run herald -- parked list --config examples/demo/herald.config.ts --context demo_shipping
 *   npm run herald -- sagas list order --config examples/demo/herald.config.ts --context demo_orders
 *
 * Same database as the demo: DATABASE_URL, or the embedded PostgreSQL in .herald/postgres (the
 * command starts it, reads, and stops it). Same names: HERALD_DEMO_PREFIX, default `demo_`.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from '../../src/config/index.js';
import { EVENTS } from './events.js';
import { CONTEXTS } from './shared.js';

const prefix = process.env.HERALD_DEMO_PREFIX ?? 'demo_';

export default defineConfig({
  databases: {
    default: process.env.DATABASE_URL
      ? { url: process.env.DATABASE_URL }
      : { dataDir: fileURLToPath(new URL('../../.herald/postgres', import.meta.url)) },
  },
  contexts: CONTEXTS.map((key) => ({ name: `${prefix}${key}`, events: [...EVENTS[key]] })),
});
