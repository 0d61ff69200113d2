/**
 * openDatabase's pool survives connections the server terminates, and close() is the one
 * shutdown path: it resolves only once every socket has closed (so an embedded server stopped
 * after it finds no connection to terminate), forcing the stragglers after timeoutMs.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import type pg from 'pg';
import { ConfigError } from '../../src/errors.js';
import { openDatabase, type Database } from '../../src/database/index.js';
import { databaseUrl } from '../helpers/db.js';

const run = promisify(execFile);

/** Rejects if `work` has not settled within `ms`: a close() that hangs fails the test instead. */
async function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** Records every connection the pool opens and whether its socket has closed. */
function watchSockets(db: Database): { opened: pg.Client[]; ended: Set<pg.Client> } {
  const opened: pg.Client[] = [];
  const ended = new Set<pg.Client>();
  db.pool.on('connect', (client) => {
    opened.push(client);
    client.once('end', () => ended.add(client));
  });
  return { opened, ended };
}

describe('openDatabase', () => {
  it('survives the server terminating its connections, idle or checked out', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'test/fixtures/terminated.ts'], {
      env: process.env,
      timeout: 30_000,
    });
    assert.equal(stdout.trim(), 'survived');
  });

  it('close() resolves only once every connection socket has closed', async () => {
    const db = await openDatabase({ url: databaseUrl(), poolSize: 3 });
    const sockets = watchSockets(db);
    const clients = await Promise.all([db.pool.connect(), db.pool.connect(), db.pool.connect()]);
    await Promise.all(clients.map((c) => c.query('SELECT 1')));
    for (const client of clients) client.release();
    await within(db.close(), 10_000, 'close()');
    assert.equal(sockets.opened.length, 3);
    assert.equal(sockets.ended.size, 3, 'every socket had closed when close() resolved');
  });

  it('close() waits timeoutMs for a client never released, then closes it anyway', async () => {
    const db = await openDatabase({ url: databaseUrl(), poolSize: 2 });
    const sockets = watchSockets(db);
    const leaked = await db.pool.connect();
    await db.pool.query('SELECT 1');
    const started = Date.now();
    await within(db.close({ timeoutMs: 200 }), 10_000, 'close()');
    assert.ok(Date.now() - started >= 190, 'close() waited for the client to come back');
    assert.equal(sockets.ended.size, sockets.opened.length, 'every socket had closed when close() resolved');
    await assert.rejects(leaked.query('SELECT 1'));
    leaked.release();
  });

  it('close() called twice shuts down once; a bad timeoutMs is refused', async () => {
    const db = await openDatabase({ url: databaseUrl(), poolSize: 1 });
    await db.pool.query('SELECT 1');
    await assert.rejects(db.close({ timeoutMs: -1 }), ConfigError);
    await within(Promise.all([db.close(), db.close()]), 10_000, 'close()');
    assert.ok(db.pool.ended);
  });
});
