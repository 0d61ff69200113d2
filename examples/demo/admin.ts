/**
 * The admin panel of a demo run, over the four contexts: on 127.0.0.1 only, one user `admin`
 * (an operator) with a password made for this run unless HERALD_ADMIN_PASSWORD gives one. The
 * port is `--admin-port` (or HERALD_DEMO_ADMIN_PORT), 4400 by default; when that one is taken
 * it takes any free port, and the printed URL says which.
 */
import { randomBytes } from 'node:crypto';
import { type AdminPanel, createAdminPanel, hashPassword } from '../../src/index.js';
import type { DemoOptions } from './options.js';
import type { Say } from './report.js';
import type { World } from './world.js';

export const ADMIN_USER = 'admin';
const HOST = '127.0.0.1';

export interface DemoPanel {
  readonly url: string;
  close(): Promise<void>;
}

/** Listens on `port`, or on any free port when that one is taken (or not ours to take). */
async function listen(panel: AdminPanel, port: number): Promise<{ url: string; fellBack: boolean }> {
  try {
    return { ...(await panel.listen({ port, host: HOST })), fellBack: false };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (port === 0 || (code !== 'EADDRINUSE' && code !== 'EACCES')) throw error;
    return { ...(await panel.listen({ port: 0, host: HOST })), fellBack: true };
  }
}

/** Starts the panel over the world's contexts and says where it is and how to sign in; `null` with `--no-admin`. */
export async function startPanel(world: World, options: Pick<DemoOptions, 'admin' | 'adminPort' | 'adminPassword' | 'stay'>, say: Say): Promise<DemoPanel | null> {
  if (!options.admin) return null;
  const password = options.adminPassword ?? randomBytes(12).toString('base64url');
  const panel = createAdminPanel({
    heralds: Object.values(world.logs),
    users: [{ name: ADMIN_USER, role: 'operator', passwordHash: await hashPassword(password) }],
    sampleEveryMs: 1000,
  });
  const { url, fellBack } = await listen(panel, options.adminPort);
  const shown = options.adminPassword ? 'the password in HERALD_ADMIN_PASSWORD' : `password ${password}`;
  say(`admin:     ${url} (user ${ADMIN_USER}, ${shown})${fellBack ? ` (port ${options.adminPort} was taken)` : ''}`);
  if (!options.stay) say('           open until the run ends; --stay keeps it open afterwards, until Ctrl-C');
  return { url, close: () => panel.close() };
}

/** With `--stay`: says so, and waits for Ctrl-C (the signal) with the panel open. */
export async function stayOpen(panel: DemoPanel | null, options: Pick<DemoOptions, 'stay'>, say: Say, signal?: AbortSignal): Promise<void> {
  if (!panel || !options.stay || !signal || signal.aborted) return;
  say(`admin:     still open at ${panel.url} — Ctrl-C to stop`);
  await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
