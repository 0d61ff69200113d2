/**
 * The README's bring-your-own outbox example is examples/outbox.ts, verbatim; this test checks
 * that, then runs it (in schemas of its own) against RabbitMQ and the test database.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { requireBroker } from '../helpers/brokers.js';
import { createPool, dropContext, uniqueContext } from '../helpers/db.js';

const run = promisify(execFile);

describe('README: your own outbox table', () => {
  const pool = createPool(2);
  after(() => pool.end());

  it('shows examples/outbox.ts verbatim', () => {
    const readme = readFileSync('README.md', 'utf8');
    const block = /<!-- outbox:start -->\s*```ts\n([\s\S]*?)```\s*<!-- outbox:end -->/.exec(readme);
    assert.ok(block, 'README has an outbox block');
    assert.equal(block[1], readFileSync('examples/outbox.ts', 'utf8'));
  });

  it('the example relays the seed-shaped table over RabbitMQ: the row is invoiced once and dispatched', async (t) => {
    if (!(await requireBroker('rabbitmq', t))) return;
    const prefix = uniqueContext('exo');
    const script = resolve('test/.outbox.tmp.ts');
    const source = readFileSync('examples/outbox.ts', 'utf8')
      .replace("from 'herald/transports/rabbitmq'", `from '${resolve('src/transports/rabbitmq.ts')}'`)
      .replace("from 'herald'", `from '${resolve('src/index.ts')}'`)
      .replace(/\borders\b/g, `${prefix}_orders`)
      .replace(/\bbilling\b/g, `${prefix}_billing`);
    writeFileSync(script, source);
    try {
      const { stdout } = await run(process.execPath, ['--import', 'tsx', script], { env: process.env, timeout: 60_000 });
      const lines = stdout.trim().split('\n');
      assert.match(lines[0]!, /^invoiced o-\d+ \(row 1, aggregate [0-9a-f-]{36} v1\)$/);
      assert.match(lines[1]!, /^o-\d+: dispatched and invoiced$/);
      const { rows } = await pool.query(`SELECT count(*)::int AS n FROM "${prefix}_billing".invoices`);
      assert.equal(rows[0].n, 1);
    } finally {
      rmSync(script, { force: true });
      await dropContext(pool, `${prefix}_orders`);
      await dropContext(pool, `${prefix}_billing`);
    }
  });
});
