/**
 * The README's quick start is examples/quickstart.ts, verbatim; this test checks that, then runs
 * it (in a schema of its own) against the test database. The `npm start` demo runs in demo.test.ts,
 * which also compares its output with the README's; here, what the README says about it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { trafficLine } from '../../examples/demo/run.js';
import { parseOptions } from '../../examples/demo/options.js';
import { loadConfig } from '../../src/config/load.js';
import { createPool, dropContext, uniqueContext } from '../helpers/db.js';
import { requireBroker } from '../helpers/brokers.js';
import { parseExposition, valueOf } from '../helpers/prometheus.js';

const run = promisify(execFile);

describe('README', () => {
  const pool = createPool();
  const context = uniqueContext('readme');
  const script = resolve('test/.quickstart.tmp.ts');
  after(async () => {
    rmSync(script, { force: true });
    await dropContext(pool, context);
    await pool.end();
  });

  it('shows examples/quickstart.ts verbatim as its quick start', () => {
    const readme = readFileSync('README.md', 'utf8');
    const block = /<!-- quickstart:start -->\s*```ts\n([\s\S]*?)```\s*<!-- quickstart:end -->/.exec(readme);
    assert.ok(block, 'README has a quick start block');
    assert.equal(block[1], readFileSync('examples/quickstart.ts', 'utf8'));
  });

  it('the quick start runs and prints a receipt written exactly once, before the append resolved', async () => {
    const source = readFileSync('examples/quickstart.ts', 'utf8')
      .replace("from 'herald'", `from '${resolve('src/index.ts')}'`)
      .replace(/\bshop\b/g, context);
    writeFileSync(script, source);
    const { stdout } = await run(process.execPath, ['--import', 'tsx', script], { env: process.env, timeout: 30_000 });
    const lines = stdout.trim().split('\n');
    assert.match(lines[0]!, /^receipt for o-\d+ \(event #1, order-o-\d+ v1\)$/);
    assert.match(lines[1]!, /^order o-\d+ placed; receipt total 42$/);
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM "${context}".receipts`);
    assert.equal(rows[0].n, 1);
  });

  it('shows examples/config/herald.config.yaml verbatim, and it loads', async () => {
    const readme = readFileSync('README.md', 'utf8');
    const block = /<!-- config:start -->\s*```yaml\n([\s\S]*?)```\s*<!-- config:end -->/.exec(readme);
    assert.ok(block, 'README has a config block');
    assert.equal(block[1], readFileSync('examples/config/herald.config.yaml', 'utf8'));
    const { config } = await loadConfig('examples/config/herald.config.yaml');
    assert.deepEqual(config.contexts.map((c) => c.name), ['shop', 'billing']);
    assert.equal(typeof config.contexts[0]!.subscriptions![0]!.handle, 'function');
    assert.equal(typeof (config.contexts[1]!.consumers![0]!.handlers as Record<string, unknown>).OrderPlaced, 'function');
  });

  it('shows examples/across-services.ts verbatim in "Across services"', () => {
    const readme = readFileSync('README.md', 'utf8');
    const block = /<!-- across:start -->\s*```ts\n([\s\S]*?)```\s*<!-- across:end -->/.exec(readme);
    assert.ok(block, 'README has an across-services block');
    assert.equal(block[1], readFileSync('examples/across-services.ts', 'utf8'));
  });

  it('the across-services example relays over RabbitMQ and reports the invoice acknowledged', async (t) => {
    if (!(await requireBroker('rabbitmq', t))) return;
    const prefix = uniqueContext('ex');
    const acrossScript = resolve('test/.across.tmp.ts');
    const source = readFileSync('examples/across-services.ts', 'utf8')
      .replace("from 'herald/transports/rabbitmq'", `from '${resolve('src/transports/rabbitmq.ts')}'`)
      .replace("from 'herald'", `from '${resolve('src/index.ts')}'`)
      .replace(/\bsales\b/g, `${prefix}_sales`)
      .replace(/\bbilling\b/g, `${prefix}_billing`);
    writeFileSync(acrossScript, source);
    try {
      const { stdout } = await run(process.execPath, ['--import', 'tsx', acrossScript], { env: process.env, timeout: 60_000 });
      assert.match(stdout.trim(), new RegExp(`^o-\\d+: invoiced by ${prefix}_billing at \\d{4}-`));
      const { rows } = await pool.query(`SELECT count(*)::int AS n FROM "${prefix}_billing".invoices`);
      assert.equal(rows[0].n, 1);
    } finally {
      rmSync(acrossScript, { force: true });
      await dropContext(pool, `${prefix}_sales`);
      await dropContext(pool, `${prefix}_billing`);
    }
  });

  it('shows examples/metrics-and-tracing.ts verbatim in "Metrics and tracing"', () => {
    const readme = readFileSync('README.md', 'utf8');
    const block = /<!-- observability:start -->\s*```ts\n([\s\S]*?)```\s*<!-- observability:end -->/.exec(readme);
    assert.ok(block, 'README has a metrics and tracing block');
    assert.equal(block[1], readFileSync('examples/metrics-and-tracing.ts', 'utf8'));
  });

  it('the metrics and tracing example scrapes its metrics and shows the handler in the request trace', async () => {
    const observed = uniqueContext('obs');
    const observedScript = resolve('test/.observability.tmp.ts');
    const source = readFileSync('examples/metrics-and-tracing.ts', 'utf8')
      .replace("from 'herald/metrics'", `from '${resolve('src/metrics/index.ts')}'`)
      .replace("from 'herald/tracing'", `from '${resolve('src/tracing/index.ts')}'`)
      .replace("from 'herald'", `from '${resolve('src/index.ts')}'`)
      .replace('port: 9464', 'port: 0')
      .replace(/\bshop\b/g, observed);
    writeFileSync(observedScript, source);
    try {
      const { stdout } = await run(process.execPath, ['--import', 'tsx', observedScript], { env: process.env, timeout: 30_000 });
      const lines = stdout.trim().split('\n');
      const samples = parseExposition(lines.filter((l) => l.startsWith('herald_')).join('\n'));
      assert.equal(valueOf(samples, 'herald_events_appended_total', { context: observed }), 1);
      assert.equal(valueOf(samples, 'herald_log_head', { context: observed }), 1);
      assert.equal(valueOf(samples, 'herald_subscription_lag', { context: observed, subscription: `${observed}.mailer` }), 0);
      assert.equal(lines.at(-1), `trace: POST /orders > append ${observed} > handle ${observed}.mailer`);
    } finally {
      rmSync(observedScript, { force: true });
      await dropContext(pool, observed);
    }
  });

  it('npm start runs the demo, and the README shows the output of its default run', () => {
    const scripts = JSON.parse(readFileSync('package.json', 'utf8')).scripts as Record<string, string>;
    assert.equal(scripts.start, 'tsx examples/demo/main.ts');
    const readme = readFileSync('README.md', 'utf8');
    const block = /<!-- demo:start -->\s*```\n([\s\S]*?)```\s*<!-- demo:end -->/.exec(readme);
    assert.ok(block, 'README has the demo output block');
    const lines = block[1]!.trimEnd().split('\n');
    assert.ok(lines.includes(trafficLine(parseOptions([], {}))), 'the traffic line of the default options');
    assert.match(lines.at(-1)!, /^ledger: orders 30, reserved (\d+), paid \1, shipped \1, compensated \d+, lost 0, duplicates 0$/);
    assert.match(lines.join('\n'), /parked list --context demo_shipping --config examples\/demo\/herald\.config\.ts/);
  });
});
