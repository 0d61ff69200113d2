/**
 * The `npm start` demo as a user runs it (a real process), against the test database, its four
 * contexts in schemas of their own (`HERALD_DEMO_PREFIX`): the default run, checked against the
 * databases and the README; the `herald` command on its config; the admin panel it serves; and
 * the chaos run with real kill -9 of worker processes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { readLedger } from '../../examples/demo/ledger.js';
import { parseOptions } from '../../examples/demo/options.js';
import { trafficLine } from '../../examples/demo/run.js';
import { resetBroker } from '../../examples/demo/broker.js';
import { brokerGroups } from '../../examples/demo/routing.js';
import { CONTEXTS, contextNames } from '../../examples/demo/shared.js';
import { cardOf, MALFORMED_LABEL_EVERY, planOrders } from '../../examples/demo/traffic.js';
import { createWorld } from '../../examples/demo/world.js';
import { Client } from '../helpers/admin.js';
import { requireBroker } from '../helpers/brokers.js';
import { createPool, dropContext, uniqueContext, waitFor } from '../helpers/db.js';

interface Run {
  code: number | null;
  lines: string[];
  stderr: string;
}

/** The demo's environment: its prefix, no broker, and the admin panel's defaults (a random password, port 4400 or a free one). */
const demoEnv = (prefix: string) => ({ ...process.env, HERALD_DEMO_PREFIX: prefix, HERALD_DEMO_BROKER: '', HERALD_ADMIN_PASSWORD: '', HERALD_DEMO_ADMIN_PORT: '' });

/** Runs a TypeScript entry point to its end with the demo's prefix; kills it after `timeoutMs`. */
async function run(script: string, args: string[], prefix: string, timeoutMs: number): Promise<Run> {
  const child = spawn(process.execPath, ['--import', 'tsx', resolve(script), ...args], {
    env: demoEnv(prefix),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = await once(child, 'exit');
  clearTimeout(timer);
  return { code: code as number | null, lines: stdout.trimEnd().split('\n'), stderr };
}

/** A demo process read while it runs. */
function start(args: string[], prefix: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', resolve('examples/demo/main.ts'), ...args], { env: demoEnv(prefix), stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let partial = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const output = () => `${lines.join('\n')}\n${stderr}`;
  return {
    child,
    lines,
    exited,
    output,
    /** The first line matching `pattern`, once printed (fails after `timeoutMs`, or when the demo ended without it). */
    async line(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
      let ended = false;
      void exited.then(() => (ended = true));
      return waitFor(
        () => {
          const found = lines.map((l) => pattern.exec(l)).find((m) => m !== null);
          if (!found && ended) throw new Error(`the demo ended without a line matching ${pattern}:\n${output()}`);
          return found;
        },
        { timeoutMs, intervalMs: 50, message: `a line matching ${pattern}` },
      );
    },
  };
}

/** The admin line: `admin:     http://127.0.0.1:4400/ (user admin, password …)`. */
const ADMIN_LINE = /^admin: +(http:\/\/127\.0\.0\.1:(\d+)\/) \(user (\w+), password (\S+)\)/;

const LEDGER = /^ledger: orders (\d+), reserved (\d+), paid (\d+), shipped (\d+), compensated (\d+), lost (\d+), duplicates (\d+)$/;

/** The README's shown output of the default run. */
function readmeLines(): string[] {
  const block = /<!-- demo:start -->\s*```\n([\s\S]*?)```\s*<!-- demo:end -->/.exec(readFileSync('README.md', 'utf8'));
  assert.ok(block, 'README has the demo output block');
  return block[1]!.trimEnd().split('\n');
}

/** A summary line without its duration, which differs from run to run. */
const timeless = (line: string | undefined) => line?.replace(/ in \d+(\.\d+)? s:/, ' in … s:');

describe('the npm start demo', () => {
  const pool = createPool(4);
  const prefixes: string[] = [];
  const newPrefix = () => {
    const prefix = `${uniqueContext('demo')}_`;
    prefixes.push(prefix);
    return prefix;
  };
  after(async () => {
    for (const prefix of prefixes) for (const key of CONTEXTS) await dropContext(pool, `${prefix}${key}`);
    await pool.end();
  });

  it('the default run finishes every order consistently, shows the designed failures, parks the malformed labels, and prints what the README shows', { timeout: 180_000 }, async () => {
    const prefix = newPrefix();
    const demo = await run('examples/demo/main.ts', [], prefix, 150_000);
    assert.equal(demo.code, 0, `${demo.lines.join('\n')}\n${demo.stderr}`);
    const defaults = parseOptions([], {});
    assert.ok(demo.lines.includes(trafficLine(defaults)));
    // It served the admin panel while it ran (and ended by itself all the same).
    const admin = demo.lines.map((l) => ADMIN_LINE.exec(l)).find((m) => m !== null);
    assert.ok(admin, demo.lines.join('\n'));
    assert.equal(admin[3], 'admin');

    const ledgers = demo.lines.filter((l) => l.startsWith('ledger:'));
    assert.equal(ledgers.length, 1);
    const [, orders, reserved, paid, shipped, compensated, lost, duplicates] = LEDGER.exec(ledgers[0]!)!.map(Number);
    assert.deepEqual([orders, lost, duplicates], [30, 0, 0]);
    assert.equal(paid, reserved);
    assert.equal(shipped, reserved);
    assert.equal(reserved! + compensated!, 30);

    // From the databases: every order's outcome is the one its card allows. On a machine slow enough
    // for an answer to take longer than the payment deadline, the deadline compensates it instead.
    const world = createWorld(pool, { prefix });
    const { rows } = await pool.query<{ id: string; status: string; reason: string | null }>(`SELECT id, status, reason FROM "${prefix}orders".orders ORDER BY id`);
    assert.equal(rows.length, 30);
    for (const order of rows) {
      const card = cardOf(Number(order.id.slice(2)));
      const allowed = card === 'unanswered' ? ['cancelled:payment deadline passed'] : card === 'declined' ? ['cancelled:card declined', 'cancelled:payment deadline passed'] : ['completed:', 'cancelled:payment deadline passed'];
      assert.ok(allowed.includes(`${order.status}:${order.reason ?? ''}`), `${order.id} (card ${card}): ${order.status}, ${order.reason}`);
    }
    const designed = rows.every((o) => (o.status === 'completed') === (cardOf(Number(o.id.slice(2))) === 'ok'));
    const ledger = await readLedger(world, planOrders(30, 1).map((o) => o.orderId));
    assert.deepEqual([ledger.lost, ledger.duplicates, ledger.problems], [0, 0, []]);

    // The label printer parked exactly the shipped orders whose address has no postcode.
    const parked = await world.logs.shipping.parked.list({ status: 'parked' });
    const malformedShipped = rows.filter((o) => o.status === 'completed' && Number(o.id.slice(2)) % MALFORMED_LABEL_EVERY === 0).map((o) => `shipment-${o.id}`);
    assert.ok(malformedShipped.length > 0 || !designed);
    assert.deepEqual(parked.map((p) => p.streamId).sort(), malformedShipped);
    assert.ok(parked.every((p) => p.subscription === 'shipping.print-labels' && p.attempts.length === 2));

    // The herald command sees them through the demo's config file.
    const cli = await run('src/cli/main.ts', ['parked', 'list', '--config', 'examples/demo/herald.config.ts', '--context', `${prefix}shipping`, '--json'], prefix, 60_000);
    assert.equal(cli.code, 0, cli.stderr);
    assert.deepEqual((JSON.parse(cli.lines.join('\n')) as { streamId: string }[]).map((p) => p.streamId).sort(), malformedShipped);
    const sagas = await run('src/cli/main.ts', ['sagas', '--config', 'examples/demo/herald.config.ts', '--context', `${prefix}orders`, '--json'], prefix, 60_000);
    assert.equal(sagas.code, 0, sagas.stderr);
    const [summary] = JSON.parse(sagas.lines.join('\n')) as { saga: string; active: number; completed: number; compensated: number; timeouts: number }[];
    assert.deepEqual([summary?.saga, summary?.active, summary?.completed, summary?.compensated, summary?.timeouts], ['order', 0, reserved, compensated, 0]);

    // The README shows this run's output (when the machine kept up with the deadline, as it normally does).
    const readme = readmeLines();
    assert.ok(readme.includes(trafficLine(defaults)));
    assert.ok(readme.some((l) => ADMIN_LINE.test(l)), 'the README shows the admin line');
    if (designed) {
      assert.equal(readme.at(-1), ledgers[0]);
      assert.equal(timeless(readme.find((l) => l.startsWith('summary:'))), timeless(demo.lines.find((l) => l.startsWith('summary:'))?.replaceAll(prefix, 'demo_')));
      const section = (lines: string[], from: string, to: string) => lines.slice(lines.indexOf(from), lines.findIndex((l) => l.startsWith(to)));
      assert.deepEqual(section(demo.lines, 'compensated:', 'parked:'), section(readme, 'compensated:', 'parked:'));
    }
  });

  it('serves the admin panel over its contexts: the printed URL and credentials sign in, the overview and the sagas page show the order saga; --stay keeps it open until Ctrl-C, then exits 0', { timeout: 180_000 }, async () => {
    const prefix = newPrefix();
    const demo = start(['--orders', '10', '--rate', '5', '--stay'], prefix);
    try {
      const [, url, port, user, password] = await demo.line(ADMIN_LINE, 60_000);
      assert.ok(Number(port) > 0);
      assert.ok(!demo.lines.some((l) => /open until the run ends/.test(l)), 'with --stay it says it stays instead');
      const client = new Client(url!);
      assert.equal((await new Client(url!).login(user!, `${password}-wrong`)).status, 401);
      assert.equal((await client.login(user!, password!)).status, 303);
      const overview = await (await client.request('')).text();
      for (const key of CONTEXTS) assert.match(overview, new RegExp(`<h2>${prefix}${key}</h2>`));
      assert.match(overview, /<code>saga:order<\/code>/);
      // While the traffic flows, and after: the order saga's instances, one per order.
      await waitFor(async () => /data-instance="order\|o-001"/.test(await (await client.request('sagas')).text()), { timeoutMs: 60_000, intervalMs: 200, message: 'o-001 on the sagas page' });
      await demo.line(/^ledger: orders 10, .*, lost 0, duplicates 0$/, 120_000);
      await demo.line(/^admin: +still open at http:\/\/127\.0\.0\.1:\d+\/ — Ctrl-C to stop$/, 10_000);
      const sagas = await client.json<{ context: string; instances: { key: string; status: string }[] }>(`api/sagas?context=${prefix}orders&saga=order`);
      assert.equal(sagas.status, 200);
      assert.deepEqual(sagas.body.instances.map((i) => i.key), planOrders(10, 1).map((o) => o.orderId));
      assert.ok(sagas.body.instances.every((i) => i.status === 'completed' || i.status === 'compensated'), JSON.stringify(sagas.body.instances));
      const page = await (await client.request('sagas')).text();
      assert.match(page, new RegExp(`<h1>Sagas in ${prefix}orders</h1>`));
      assert.match(page, /<tr data-instance="order\|o-007">[\s\S]*?badge neutral">compensated</, 'the declined card compensated');
      // Still serving after the run, until Ctrl-C.
      assert.equal((await client.request('sagas/instance?context=' + prefix + 'orders&saga=order&key=o-001')).status, 200);
      demo.child.kill('SIGINT');
      assert.equal(await demo.exited, 0, demo.output());
      assert.ok(demo.lines.includes('demo: SIGINT: stopping'));
    } finally {
      if (demo.child.exitCode === null && demo.child.signalCode === null) demo.child.kill('SIGKILL');
    }
  });

  it('through a real broker (RabbitMQ): every log relayed, consumers in the receiving contexts, the same ledger', { timeout: 180_000 }, async (t) => {
    if (!(await requireBroker('rabbitmq', t))) return;
    const prefix = newPrefix();
    t.after(() => resetBroker('rabbitmq', brokerGroups(contextNames(prefix))));
    const demo = await run('examples/demo/main.ts', ['--broker', 'rabbitmq', '--orders', '14', '--rate', '10', '--no-admin'], prefix, 150_000);
    assert.equal(demo.code, 0, `${demo.lines.join('\n')}\n${demo.stderr}`);
    assert.ok(!demo.lines.some((l) => l.startsWith('admin:')), '--no-admin: no panel');
    assert.ok(demo.lines.some((l) => /^transport: rabbitmq at amqp:\/\/127\.0\.0\.1:5672: every log relayed/.test(l)), demo.lines.join('\n'));
    // Each context's status line shows its relay, and orders its consumers of the three others.
    for (const key of CONTEXTS) assert.ok(demo.lines.some((l) => l.includes(`${prefix}${key}`) && l.includes('relay:rabbitmq running lag 0')), key);
    const orders = demo.lines.find((l) => l.trimStart().startsWith(`${prefix}orders `))!;
    for (const from of ['inventory', 'payments', 'shipping']) assert.match(orders, new RegExp(`orders\\.from-${from} consumer handled [1-9]\\d*, duplicates dropped \\d+`));
    const ledger = demo.lines.find((l) => l.startsWith('ledger:'))!;
    const [, count, reserved, paid, shipped, compensated, lost, duplicates] = LEDGER.exec(ledger)!.map(Number);
    assert.deepEqual([count, lost, duplicates, paid, shipped, reserved! + compensated!], [14, 0, 0, reserved, reserved, 14]);
    // What inventory applied came through its consumer: each message id is in that consumer's inbox.
    const { rows } = await pool.query<{ applied: number; outside: number }>(
      `SELECT count(*)::int AS applied,
              count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM "${prefix}inventory".inbox i WHERE i.consumer = 'inventory.from-orders' AND i.message_id = a.message_id))::int AS outside
         FROM "${prefix}inventory".applied a`,
    );
    assert.ok(rows[0]!.applied >= 14);
    assert.equal(rows[0]!.outside, 0);
  });

  it('the chaos run kills worker processes with kill -9 while the traffic flows, and its ledger says lost 0, duplicates 0', { timeout: 240_000 }, async () => {
    const prefix = newPrefix();
    const args = ['--chaos', '--workers', '1', '--orders', '12', '--rate', '4', '--kills', '2', '--seed', '3'];
    const demo = await run('examples/demo/main.ts', args, prefix, 220_000);
    assert.equal(demo.code, 0, `${demo.lines.join('\n')}\n${demo.stderr}`);

    const ledgers = demo.lines.filter((l) => l.startsWith('ledger:'));
    assert.equal(ledgers.length, 1, 'exactly one ledger line');
    const [, orders, reserved, paid, shipped, compensated, lost, duplicates] = LEDGER.exec(ledgers[0]!)!.map(Number);
    assert.deepEqual([orders, lost, duplicates], [12, 0, 0]);
    assert.deepEqual([paid, shipped, reserved! + compensated!], [reserved, reserved, 12]);

    // The kills were real: two workers ended by SIGKILL, and those processes are gone.
    const kills = demo.lines.map((l) => /kill -9 (\w+#\d+) \(pid (\d+)[^)]*\): ended by (\w+)$/.exec(l)).filter((m) => m !== null);
    assert.equal(kills.length, 2, demo.lines.join('\n'));
    for (const [, , pid, signal] of kills) {
      assert.equal(signal, 'SIGKILL');
      assert.throws(() => process.kill(Number(pid), 0), { code: 'ESRCH' });
    }
    assert.ok(demo.lines.some((l) => /^kills: +2 workers killed \(2 ended by SIGKILL\), 2 restarted/.test(l)));
    assert.equal(demo.lines.filter((l) => /restarted \w+#\d+ \(pid \d+\)$/.test(l)).length, 2);

    // The databases agree with the line, after every process has ended.
    const ledger = await readLedger(createWorld(pool, { prefix }), planOrders(12, 3).map((o) => o.orderId));
    assert.deepEqual([ledger.orders, ledger.lost, ledger.duplicates, ledger.compensated], [12, 0, 0, compensated]);
  });
});
