/**
 * The `herald` command as a user runs it: a real process per command line, against a real
 * database, with a Herald in this process running the subscription the operator acts on.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createHerald, type Herald, park } from '../../src/index.js';
import { createPool, databaseUrl, dropContext, uniqueContext, waitFor } from '../helpers/db.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `herald …` to its end (or until `until` resolves, then SIGTERM). */
async function herald(args: string[], options: { env?: NodeJS.ProcessEnv; until?: (run: Run) => Promise<unknown>; input?: string } = {}): Promise<Run> {
  const child = spawn(process.execPath, ['--import', 'tsx', resolve('src/cli/main.ts'), ...args], {
    env: { ...process.env, ...options.env },
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  if (options.input !== undefined) child.stdin!.end(options.input);
  const run: Run = { code: null, stdout: '', stderr: '' };
  child.stdout!.on('data', (chunk: Buffer) => (run.stdout += chunk));
  child.stderr!.on('data', (chunk: Buffer) => (run.stderr += chunk));
  const exited = once(child, 'exit');
  if (options.until) {
    await options.until(run);
    child.kill('SIGTERM');
  }
  const [code] = await exited;
  run.code = code as number | null;
  return run;
}

const parsed = (run: Run) => {
  try {
    return JSON.parse(run.stdout);
  } catch {
    assert.fail(`not JSON (exit ${run.code}): ${run.stdout}\n${run.stderr}`);
  }
};

describe('herald CLI', () => {
  const pool = createPool(6);
  const context = uniqueContext('cli');
  const ctx = ['--context', context];
  let runtime: Herald;
  let failing = true;

  before(async () => {
    const migrated = await herald(['migrate', ...ctx, '--json']);
    assert.equal(migrated.code, 0, migrated.stderr);
    assert.ok(parsed(migrated)[0].applied.length >= 5);
    const again = await herald(['migrate', ...ctx]);
    assert.match(again.stdout, /up to date/);
    runtime = createHerald({ pool, context, pollMs: 50, leaseTtlMs: 2000 });
    runtime.subscribe({
      name: 'flaky',
      onError: () => park('needs a person'),
      handle: (event) => {
        if (failing && (event.data as { fail?: boolean }).fail) throw new Error(`refused ${event.metadata.streamId}`);
      },
    });
    await runtime.start();
  });
  after(async () => {
    await runtime.stop();
    await dropContext(pool, context);
    await pool.end();
  });

  const parkedCount = async () => (await runtime.parked.list({ subscription: 'flaky' })).length;

  it('lists, shows and retries one parked event; the runtime carries it out', async () => {
    await runtime.append('order-1', [{ type: 'Placed', data: { fail: true } }, { type: 'Paid', data: {} }]);
    await waitFor(parkedCount, { message: 'event 1 parked' });
    const list = await herald(['parked', 'list', ...ctx, '--subscription', 'flaky', '--json']);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(parsed(list).map((e: { eventNumber: number; status: string }) => [e.eventNumber, e.status]), [[1, 'parked']]);
    const table = await herald(['parked', 'list', ...ctx]);
    assert.match(table.stdout, /flaky\s+1\s+Placed\s+order-1\s+parked/);
    const show = await herald(['parked', 'show', ...ctx, '--subscription', 'flaky', '1', '--json']);
    assert.equal(parsed(show).error.message, 'refused order-1');
    assert.equal(parsed(show).attempts.length, 1);

    failing = false;
    const retry = await herald(['parked', 'retry', ...ctx, '--subscription', 'flaky', '1', '--json']);
    assert.equal(retry.code, 0, retry.stderr);
    assert.equal(parsed(retry).status, 'retried');
    await waitFor(async () => (await runtime.status()).subscriptions[0]!.blockedStreams === 0, { message: 'stream released' });
    failing = true;
  });

  it('skip needs a reason; unknown events are "not found"', async () => {
    await runtime.append('order-2', { type: 'Placed', data: { fail: true } });
    await waitFor(parkedCount, { message: 'parked again' });
    const eventNumber = (await runtime.parked.list({ subscription: 'flaky' }))[0]!.eventNumber;
    const noReason = await herald(['parked', 'skip', ...ctx, '--subscription', 'flaky', String(eventNumber)]);
    assert.equal(noReason.code, 2);
    assert.match(noReason.stderr, /needs --reason/);
    const skip = await herald(['parked', 'skip', ...ctx, '--subscription', 'flaky', String(eventNumber), '--reason', 'refunded by hand']);
    assert.equal(skip.code, 0, skip.stderr);
    assert.match(skip.stdout, /skipped/);
    const missing = await herald(['parked', 'retry', ...ctx, '--subscription', 'flaky', '999', '--json']);
    assert.equal(missing.code, 5);
    assert.equal(parsed(missing).error.code, 'HERALD_NOT_PARKED');
  });

  it('bulk retry on a filter: dry run, then all of them with progress; status --check', async () => {
    for (const stream of ['b-1', 'b-2', 'b-3']) await runtime.append(stream, { type: 'Placed', data: { fail: true } });
    await waitFor(async () => (await parkedCount()) === 3, { message: 'three parked' });
    const check = await herald(['status', ...ctx, '--check']);
    assert.equal(check.code, 1);
    assert.match(check.stdout, /flaky\s+running\s+\d+\s+0\s+3/);
    const dry = await herald(['parked', 'retry', '--all', ...ctx, '--subscription', 'flaky', '--dry-run', '--json']);
    assert.deepEqual(parsed(dry), { matching: 3 });
    assert.equal(await parkedCount(), 3, 'a dry run changes nothing');
    const refused = await herald(['parked', 'retry', '--all', ...ctx, '--subscription', 'flaky']);
    assert.equal(refused.code, 2, 'no terminal to confirm on: --yes is required');
    failing = false;
    const bulk = await herald(['parked', 'retry', '--all', ...ctx, '--subscription', 'flaky', '--yes']);
    assert.equal(bulk.code, 0, bulk.stderr);
    assert.match(bulk.stdout, /3 requested, 3 carried out, 0 still failed/);
    assert.match(bulk.stderr, /retry \[#+\] 3\/3/);
    failing = true;
    const status = await herald(['status', ...ctx, '--json', '--check']);
    assert.equal(status.code, 0, status.stderr);
    const [log] = parsed(status);
    assert.equal(log.context, context);
    assert.equal(log.subscriptions[0].name, 'flaky');
    assert.equal(log.subscriptions[0].position, log.head);
  });

  it("an event's journey; usage, config and database errors have their own exit codes", async () => {
    const journey = await herald(['deliveries', 'journey', '1', ...ctx, '--json']);
    assert.equal(journey.code, 0, journey.stderr);
    assert.equal(parsed(journey).eventNumber, 1);
    assert.equal((await herald(['deliveries', 'journey', '99999', ...ctx])).code, 5);
    const unknown = await herald(['frobnicate']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
    assert.equal((await herald(['status', '--bogus-flag', ...ctx])).code, 2);
    const help = await herald(['parked', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /herald parked retry\|skip --all/);
    const dir = mkdtempSync(join(tmpdir(), 'herald-cli-'));
    writeFileSync(join(dir, 'herald.config.yaml'), 'contexts:\n  - name: shop\n    relays:\n      - transport: { broker: kafak }\n');
    const badConfig = await herald(['status', '--config', join(dir, 'herald.config.yaml')]);
    assert.equal(badConfig.code, 3);
    assert.match(badConfig.stderr, /herald\.config\.yaml:4:\d+: contexts\[0\]\.relays\[0\]\.transport\.broker: unknown broker "kafak"/);
    const noDb = await herald(['status', ...ctx, '--database-url', 'postgres://postgres@127.0.0.1:1/none']);
    assert.equal(noDb.code, 4);
    const unmigrated = await herald(['status', '--context', uniqueContext('nomig')]);
    assert.equal(unmigrated.code, 4);
    assert.match(unmigrated.stderr, /herald migrate/);
  });

  it('subscription pause, resume and reset are carried out by the running process', async () => {
    const paused = await herald(['subscription', 'pause', 'flaky', ...ctx, '--reason', 'deploying', '--json']);
    assert.equal(paused.code, 0, paused.stderr);
    assert.equal(parsed(paused).status, 'paused');
    const status = await herald(['status', ...ctx, '--json']);
    assert.equal(parsed(status)[0].subscriptions[0].state, 'paused');
    const resumed = await herald(['subscription', 'resume', 'flaky', ...ctx]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, /flaky: resumed/);
    const head = (await runtime.status()).head;
    const reset = await herald(['subscription', 'reset', 'flaky', ...ctx, '--to', 'current', '--json']);
    assert.equal(reset.code, 0, reset.stderr);
    assert.deepEqual([parsed(reset).status, parsed(reset).to], ['reset', head]);
    const bad = await herald(['subscription', 'reset', 'flaky', ...ctx, '--to', 'yesterday']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--to must be origin, current, an event number or an ISO 8601 time/);
    assert.equal((await herald(['subscription', 'pause', 'nosuch', ...ctx])).code, 5);
  });

  it('schema prints and applies a YAML table file; a bad one exits 3 with its line', async () => {
    const target = uniqueContext('clischema');
    await pool.query(`CREATE SCHEMA "${target}"`);
    try {
      const printed = await herald(['schema', 'test/fixtures/tables/orders_outbox.yaml', '--schema', target]);
      assert.equal(printed.code, 0, printed.stderr);
      assert.match(printed.stdout, /CREATE INDEX "orders_outbox_dispatched_at_idx" .* WHERE "dispatched_at" IS NULL;/);
      const applied = await herald(['schema', 'test/fixtures/tables/orders_outbox.yaml', '--schema', target, '--apply', '--json']);
      assert.equal(applied.code, 0, applied.stderr);
      assert.deepEqual(parsed(applied).applied, ['orders_outbox']);
      const { rows } = await pool.query(`SELECT count(*)::int AS n FROM pg_indexes WHERE schemaname = $1`, [target]);
      assert.equal(rows[0].n, 2);
      const dir = mkdtempSync(join(tmpdir(), 'herald-cli-'));
      writeFileSync(join(dir, 't.yaml'), 'table: t\ncolumns:\n  - { name: a, type: txet }\n');
      const bad = await herald(['schema', join(dir, 't.yaml'), '--apply']);
      assert.equal(bad.code, 3);
      assert.match(bad.stderr, /t\.yaml:3:22: columns\[0\]\.type: unknown type "txet"/);
    } finally {
      await dropContext(pool, target);
    }
  });

  it('admin serves the panel for the config, with users whose hash hash-password made; no users, no panel', async () => {
    const hashed = await herald(['admin', 'hash-password'], { input: 'correct horse battery' });
    assert.equal(hashed.code, 0, hashed.stderr);
    const hash = hashed.stdout.trim();
    assert.match(hash, /^scrypt\$/);
    const dir = mkdtempSync(join(tmpdir(), 'herald-cli-'));
    const file = join(dir, 'herald.config.yaml');
    writeFileSync(file, `contexts:\n  - name: ${context}\nadmin:\n  port: 0\n  users:\n    - { name: ann, role: operator, passwordHash: "${hash}" }\n`);
    const run = await herald(['admin', '--config', file], {
      until: async (r) => {
        await waitFor(() => /admin panel at (\S+)/.test(r.stderr), { timeoutMs: 20_000, message: 'the panel says where it is' });
        const url = /admin panel at (\S+)/.exec(r.stderr)![1]!;
        const home = await fetch(url, { redirect: 'manual' });
        assert.equal(home.status, 303);
        assert.equal(home.headers.get('location'), '/login');
        assert.equal((await fetch(new URL('login', url))).status, 200);
      },
    });
    assert.equal(run.code, 0, run.stderr);
    writeFileSync(file, `contexts:\n  - name: ${context}\n`);
    const unprotected = await herald(['admin', '--config', file]);
    assert.equal(unprotected.code, 3);
    assert.match(unprotected.stderr, /needs users/);
  });

  it('start runs the configured workers until SIGTERM, then stops cleanly', async () => {
    const started = uniqueContext('clistart');
    const dir = mkdtempSync(join(tmpdir(), 'herald-cli-'));
    const file = join(dir, 'herald.config.yaml');
    writeFileSync(
      file,
      `databases: { default: { url: "\${DATABASE_URL}" } }
metrics: { port: 0 }
contexts:
  - name: ${started}
    pollMs: 50
    subscriptions:
      - { name: recorder, handle: "${resolve('test/fixtures/config/handlers.ts')}#record" }
`,
    );
    const writer = createHerald({ pool, context: started });
    await writer.migrate();
    await pool.query(`CREATE TABLE "${started}".seen (subscription text, event_id uuid)`);
    try {
      const run = await herald(['start', '--config', file], {
        env: { CONFIG_TEST_SCHEMA: started, DATABASE_URL: databaseUrl() },
        until: async (r) => {
          await waitFor(() => r.stderr.includes('herald: running'), { timeoutMs: 20_000, message: 'start says it runs' });
          for (let i = 0; i < 3; i++) await writer.append(`s-${i}`, { type: 'Tick', data: {} });
          await waitFor(async () => (await pool.query(`SELECT count(*)::int AS n FROM "${started}".seen`)).rows[0].n === 3, { timeoutMs: 20_000, message: 'handled by the started process' });
          const url = /metrics at (http:\/\/\S+)/.exec(r.stderr)?.[1];
          assert.ok(url, `start prints where its metrics are: ${r.stderr}`);
          const scraped = await (await fetch(url)).text();
          assert.match(scraped, new RegExp(`herald_subscription_position\\{[^}]*context="${started}"[^}]*subscription="recorder"[^}]*\\} 3`));
        },
      });
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stderr, /stopping/);
      const { rows } = await pool.query(`SELECT state, lease_owner FROM "${started}".subscriptions WHERE name = 'recorder'`);
      assert.deepEqual(rows[0], { state: 'stopped', lease_owner: null }, 'released its lease on the way out');
    } finally {
      await dropContext(pool, started);
    }
  });
});
