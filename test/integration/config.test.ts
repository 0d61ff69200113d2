/**
 * Config files: a good YAML and a good TypeScript file run a real subscription; bad files fail
 * with the path, line and column of every problem, and nothing is started.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openApp } from '../../src/config/app.js';
import { loadConfig } from '../../src/config/load.js';
import { ConfigFileError } from '../../src/errors.js';
import { createPool, databaseUrl, dropContext, uniqueContext, waitFor } from '../helpers/db.js';

const HANDLERS = resolve('test/fixtures/config/handlers.ts');

describe('config files', () => {
  const pool = createPool(4);
  const dir = mkdtempSync(join(tmpdir(), 'herald-config-'));
  const context = uniqueContext('cfg');
  const write = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const problems = async (name: string, text: string) => {
    const error = await loadConfig(write(name, text)).then(
      () => assert.fail('expected a ConfigFileError'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof ConfigFileError, String(error));
    return error.issues;
  };

  before(() => {
    process.env.CONFIG_TEST_SCHEMA = context;
    process.env.CONFIG_TEST_URL = databaseUrl();
  });
  after(async () => {
    await dropContext(pool, context);
    await pool.end();
  });

  it('a YAML file, with the environment and module references, runs its subscription', async () => {
    const file = write(
      'herald.config.yaml',
      `databases:
  default:
    url: \${CONFIG_TEST_URL}
    poolSize: \${CONFIG_TEST_POOL:-4}
contexts:
  - name: ${context}
    pollMs: 100
    subscriptions:
      - name: recorder
        handle: ${HANDLERS}#record
        batchSize: 10
`,
    );
    const { config } = await loadConfig(file);
    assert.equal(config.databases?.default?.url, databaseUrl());
    assert.equal(typeof config.contexts[0]!.subscriptions![0]!.handle, 'function');
    const app = await openApp(config);
    try {
      await app.migrate();
      await pool.query(`CREATE TABLE "${context}".seen (subscription text, event_id uuid)`);
      await app.register();
      await app.start();
      const herald = app.herald(context);
      for (let i = 0; i < 3; i++) await herald.append(`s-${i}`, { type: 'Tick', data: { i } });
      await waitFor(async () => (await pool.query(`SELECT count(*)::int AS n FROM "${context}".seen`)).rows[0].n === 3, { message: 'three events recorded' });
    } finally {
      await app.close();
    }
  });

  it('an outbox table in the config is relayed by the app, and `herald status` shows its backlog', async () => {
    const { Redis } = await import('ioredis');
    const source = uniqueContext('cfgobx');
    const file = write(
      'outbox.yaml',
      `databases:\n  default:\n    url: \${CONFIG_TEST_URL}\ncontexts:\n  - name: ${context}\n    outboxes:\n      - table: orders_outbox\n        schema: ${context}\n        source: ${source}\n        pollMs: 20\n        transport: { broker: redis, url: "redis://127.0.0.1:6379" }\n`,
    );
    const { config } = await loadConfig(file);
    const app = await openApp(config);
    const redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await app.migrate();
      await pool.query(`SET search_path TO "${context}"; ${readFileSync('test/fixtures/tables/orders_outbox.sql', 'utf8')}; RESET search_path`);
      const insert = (type: string) =>
        pool.query(`INSERT INTO "${context}".orders_outbox (aggregate_id, event_type, payload, occurred_at) VALUES (gen_random_uuid(), $1, '{}', now())`, [type]);
      for (const type of ['OrderPlaced', 'OrderPaid']) await insert(type);
      await app.register();
      await app.start();
      const undispatched = async () => (await pool.query(`SELECT count(*)::int AS n FROM "${context}".orders_outbox WHERE dispatched_at IS NULL`)).rows[0].n;
      await waitFor(async () => (await undispatched()) === 0, { message: 'both rows dispatched' });
      assert.equal(await redis.xlen(`herald:${source}`), 2, 'both rows reached the Redis stream');
      const status = (await app.herald(context).status()).outboxes;
      assert.deepEqual(status.map((o) => [o.name, o.active, o.undispatched]), [[`outbox:${context}.orders_outbox`, true, 0]]);
      await app.close();
      await insert('OrderShipped');
      const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', resolve('src/cli/main.ts'), 'status', '--json', '--config', file]);
      const [cli] = JSON.parse(stdout);
      assert.equal(cli.outboxes.length, 1);
      assert.equal(cli.outboxes[0].undispatched, 1, 'the CLI reads the backlog without running the relay');
      assert.ok(cli.outboxes[0].oldestUndispatchedAt);
    } finally {
      await app.close();
      await redis.del(`herald:${source}`, `herald:${source}:acks`).catch(() => {});
      redis.disconnect();
    }
  });

  it('a TypeScript file (defineConfig, functions inline) loads the same way', async () => {
    const file = write(
      'herald.config.ts',
      `import { defineConfig } from ${JSON.stringify(resolve('src/config/types.ts'))};
export default defineConfig({
  contexts: [{ name: ${JSON.stringify(context)}, subscriptions: [{ name: 'inline', handle: () => {}, consistency: 'strong' }] }],
});
`,
    );
    const { config } = await loadConfig(file);
    assert.equal(config.contexts[0]!.subscriptions![0]!.consistency, 'strong');
  });

  it('bad files: every problem with its path, line and column; nothing is started', async () => {
    const issues = await problems(
      'bad.yaml',
      `contexts:
  - name: orders
    relays:
      - transport: { broker: nats }
      - transport:
          broker: kafak
    subscriptions:
      - name: a
        handle: ${HANDLERS}#record
        batchSize: -1
`,
    );
    assert.deepEqual(
      issues.map((i) => [i.path, i.line, i.column]),
      [['contexts[0].relays[1].transport.broker', 6, 19]],
    );
    assert.match(issues[0]!.message, /unknown broker "kafak"/);
  });

  it('options go through the same validators as the API, reported at their entry', async () => {
    const issues = await problems(
      'meaning.yaml',
      `contexts:
  - name: Orders
  - name: shop
    subscriptions:
      - { name: a, handle: "${HANDLERS}#record", batchSize: -1 }
      - { name: a, handle: "${HANDLERS}#record" }
      - { name: b, handle: "${HANDLERS}#notAFunction" }
      - { name: c, handle: "${HANDLERS}#missing" }
      - { name: d, handle: "./nowhere.js#x" }
`,
    );
    const byPath = Object.fromEntries(issues.map((i) => [i.path, i.message]));
    assert.match(byPath['contexts[1].subscriptions[2].handle']!, /is not a function/);
    assert.match(byPath['contexts[1].subscriptions[3].handle']!, /has no export "missing"/);
    assert.match(byPath['contexts[1].subscriptions[4].handle']!, /cannot load "\.\/nowhere\.js"/);
    assert.equal(issues.length, 3, 'references are resolved before meanings are checked');
    const meaning = await problems(
      'meaning2.yaml',
      `contexts:\n  - name: Orders\n  - name: shop\n    subscriptions:\n      - { name: b, handle: "${HANDLERS}#record", batchSize: -1 }\n      - { name: a, handle: "${HANDLERS}#record" }\n      - { name: a, handle: "${HANDLERS}#record" }\n`,
    );
    assert.deepEqual(
      meaning.map((i) => [i.path, i.line]),
      [
        ['contexts[0].name', 2],
        ['contexts[1].subscriptions[0]', 5],
        ['contexts[1].subscriptions[2]', 7],
      ],
    );
    assert.match(meaning[0]!.message, /lower-case/);
    assert.match(meaning[1]!.message, /batchSize must be a positive number/);
    assert.match(meaning[2]!.message, /"a" is already used/);
  });

  it('syntax errors, duplicate keys, unset variables, alias bombs and huge files', async () => {
    const syntax = await problems('syntax.yaml', 'contexts:\n  - name: [orders\n');
    assert.equal(syntax[0]!.line, 3);
    const duplicate = await problems('dup.yaml', 'contexts:\n  - name: a\n    name: b\n');
    assert.match(duplicate[0]!.message, /unique/i);
    assert.equal(duplicate[0]!.line, 3);
    const unset = await problems('env.yaml', 'databases:\n  default:\n    url: ${HERALD_SURELY_UNSET_VAR}\ncontexts:\n  - name: a\n');
    assert.deepEqual([unset[0]!.path, unset[0]!.line], ['databases.default.url', 3]);
    assert.match(unset[0]!.message, /HERALD_SURELY_UNSET_VAR is not set/);
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]', ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(9).fill(`*${String.fromCharCode(97 + i)}`).join(',')}]`), 'contexts: [{ name: x }]'].join('\n');
    const bombIssues = await problems('bomb.yaml', bomb);
    assert.match(bombIssues[0]!.message, /alias/i);
    const huge = await problems('huge.yaml', `contexts:\n  - name: a\n# ${'x'.repeat(2 * 1024 * 1024)}\n`);
    assert.match(huge[0]!.message, /at most 1048576/);
    const none = await loadConfig(undefined, mkdtempSync(join(tmpdir(), 'herald-empty-'))).catch((e: unknown) => e);
    assert.ok(none instanceof ConfigFileError && /no config file here/.test(none.message));
  });
});
