import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The database every test uses: `npm test` sets DATABASE_URL (the local server or an embedded one). */
export function databaseUrl(): string {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL is not set: run the tests with `npm test`');
  return url;
}

export function createPool(max = 10): pg.Pool {
  return new pg.Pool({ connectionString: databaseUrl(), max });
}

/** A context (schema) name no other test uses. */
export function uniqueContext(prefix = 't'): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

export async function dropContext(pool: pg.Pool, context: string): Promise<void> {
  await pool.query(`DROP SCHEMA IF EXISTS "${context}" CASCADE`);
}

/** Polls `condition` until it holds or `timeoutMs` passes; then fails with `message` and the last value. */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  { timeoutMs = 10_000, intervalMs = 10, message = 'condition' }: { timeoutMs?: number; intervalMs?: number; message?: string } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await condition();
    if (last) return last as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${message}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
