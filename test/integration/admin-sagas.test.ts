/**
 * The admin panel's Sagas pages over real HTTP, against real PostgreSQL: a context running a
 * saga (instances active with a pending timeout, completed, hostile state and keys), one with the
 * saga tables but no saga, one whose schema predates the saga tables; sign-in, escaping, paging
 * and hostile query fields.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type pg from 'pg';
import { createAdminPanel, createHerald, hashPassword, type AdminPanel, type Herald } from '../../src/index.js';
import { registerSaga, type RegisteredSaga } from '../../src/sagas/index.js';
import { Client, PASSWORDS } from '../helpers/admin.js';
import { createPool, dropContext, uniqueContext, waitFor } from '../helpers/db.js';

type ApiError = { error: { status: number; code: string; message: string; field?: string } };
type Instance = { saga: string; key: string; status: string; state: unknown; version: number; timeouts: { name: string; dueAt: string }[] };
type SagaList = { context: string; contexts: { context: string; available: boolean; sagas: { saga: string; active: number; completed: number }[] }[]; instances: Instance[]; nextCursor: string | null };

const HOSTILE = '<script>alert("saga")</script>';
const HOSTILE_KEY = 'c-<i>"9"</i>';
const ACTIVE_KEYS = ['c-1', 'c-2', 'c-4', 'c-5', HOSTILE_KEY];

describe('admin panel: sagas', () => {
  let pool: pg.Pool;
  const contexts = { shop: uniqueContext('adms'), empty: uniqueContext('adme'), old: uniqueContext('admo') };
  const heralds: Herald[] = [];
  let registered: RegisteredSaga<{ cart: string; note: string }>;
  let panel: AdminPanel;
  let alice: Client;
  let victor: Client;
  let url: string;

  before(async () => {
    pool = createPool(8);
    const make = (context: string) => {
      const herald = createHerald({ pool, context, pollMs: 50, sequencer: { idlePollMs: 20 } });
      heralds.push(herald);
      return herald;
    };
    const shop = make(contexts.shop);
    await shop.migrate();
    await make(contexts.empty).migrate();
    // A schema from before sagas: migrated, then without the saga tables.
    await make(contexts.old).migrate();
    await pool.query(`DROP TABLE "${contexts.old}".saga_instances, "${contexts.old}".saga_timeouts, "${contexts.old}".saga_unmatched`);
    registered = registerSaga<{ cart: string; note: string }>(shop, {
      name: 'checkout',
      initialState: () => ({ cart: '', note: '' }),
      on: {
        CheckoutStarted: {
          starts: true,
          key: (e) => (e.data as { cart: string }).cart,
          async handle(_state, event, ctx) {
            const { cart, note } = event.data as { cart: string; note: string };
            await ctx.append(`carts-${ctx.key}`, { type: 'ReserveCart', data: { cart } });
            ctx.done('reserve');
            ctx.schedule('abandon', { ms: 3_600_000 }, { cart });
            return { cart, note };
          },
        },
        CheckoutPaid: { key: (e) => (e.data as { cart: string }).cart, handle: (_state, _event, ctx) => ctx.complete() },
      },
    });
    await shop.start();
    for (const cart of ['c-1', 'c-2', 'c-3', 'c-4', 'c-5', HOSTILE_KEY]) await shop.append(`checkout-${cart}`, { type: 'CheckoutStarted', data: { cart, note: HOSTILE } });
    await shop.append('checkout-c-3', { type: 'CheckoutPaid', data: { cart: 'c-3' } });
    await shop.append('payments', { type: 'CheckoutPaid', data: { cart: 'nobody' } });
    await waitFor(async () => (await registered.inspect.unmatched('checkout')).length === 1 && (await registered.inspect.get('checkout', 'c-3'))?.status === 'completed', {
      message: 'the saga moved',
      timeoutMs: 20_000,
    });
    const users = [
      { name: 'alice', role: 'operator' as const, passwordHash: await hashPassword(PASSWORDS.alice, { cost: 1024 }) },
      { name: 'victor', role: 'viewer' as const, passwordHash: await hashPassword(PASSWORDS.victor, { cost: 1024 }) },
    ];
    // The context without sagas comes first: the page opens on the first context that has some.
    panel = createAdminPanel({ heralds: [heralds[1]!, shop, heralds[2]!], users, sampleEveryMs: 200 });
    url = (await panel.listen({ port: 0 })).url;
    alice = new Client(url);
    victor = new Client(url);
    assert.equal((await alice.login('alice', PASSWORDS.alice)).status, 303);
    assert.equal((await victor.login('victor', PASSWORDS.victor)).status, 303);
  });
  after(async () => {
    await panel?.close();
    for (const h of heralds) await h.stop();
    for (const c of Object.values(contexts)) await dropContext(pool, c);
    await pool.end();
  });

  it('requires sign-in; any signed-in user reads them; the navigation links to them', async () => {
    const anonymous = new Client(url);
    for (const path of ['sagas', `sagas/instance?context=${contexts.shop}&saga=checkout&key=c-1`]) {
      const page = await anonymous.request(path);
      assert.equal(page.status, 303, path);
      assert.equal(page.headers.get('location'), '/login');
    }
    for (const path of ['api/sagas', 'api/sagas/instance?saga=checkout&key=c-1']) assert.equal((await anonymous.json<ApiError>(path)).status, 401, path);
    assert.equal((await victor.request('sagas')).status, 200);
    assert.match(await (await victor.request('')).text(), /<a href="\/sagas">Sagas<\/a>/);
  });

  it('lists the instances with status, steps, version, updated time, state and pending timeouts, and shows one instance', async () => {
    const page = await (await alice.request('sagas')).text();
    assert.match(page, new RegExp(`<h1>Sagas in ${contexts.shop}</h1>`), 'opens on the context that has sagas');
    assert.match(page, /<tr data-saga="checkout">.*?<a href="[^"]*status=active">5<\/a>.*?status=completed">1<\/a>.*?status=compensated">0<\/a><\/td><td class="num">5<\/td><td class="num">1<\/td>/s);
    const { rows } = await pool.query<{ due_at: Date }>(`SELECT due_at FROM "${contexts.shop}".saga_timeouts WHERE saga = 'checkout' AND key = 'c-1'`);
    const row = /<tr data-instance="checkout\|c-1">([\s\S]*?)<\/tr>/.exec(page)?.[1] ?? '';
    assert.match(row, /<span class="badge neutral">active<\/span>/);
    assert.match(row, /<td>reserve<\/td><td class="num">1<\/td>/, 'steps done and version');
    assert.match(row, new RegExp(`<code>abandon</code> due <time datetime="${rows[0]!.due_at.toISOString()}">`), 'the pending timeout with its due time');
    const done = /<tr data-instance="checkout\|c-3">([\s\S]*?)<\/tr>/.exec(page)?.[1] ?? '';
    assert.match(done, /badge good">completed</);
    assert.match(done, /<td><span class="muted">—<\/span><\/td>/, 'a finished instance waits for nothing');
    // The unmatched event shows with the saga selected.
    assert.match(await (await alice.request('sagas?saga=checkout')).text(), /Events that found no instance[\s\S]*<td class="mono">nobody<\/td><td>no instance<\/td>/);

    const detail = await alice.request(`sagas/instance?context=${contexts.shop}&saga=checkout&key=c-1`);
    assert.equal(detail.status, 200);
    const text = await detail.text();
    assert.match(text, /<h1>Saga checkout: c-1<\/h1>/);
    assert.match(text, new RegExp(`<td><code>abandon</code></td><td><time datetime="${rows[0]!.due_at.toISOString()}">[^<]+</time></td><td class="mono">\\{&quot;cart&quot;:&quot;c-1&quot;\\}</td>`));
    assert.match(text, /<dt>Version<\/dt><dd>1<\/dd>/);
    const api = await alice.json<{ context: string; instance: Instance }>(`api/sagas/instance?context=${contexts.shop}&saga=checkout&key=c-1`);
    assert.deepEqual([api.body.instance.status, api.body.instance.timeouts.map((t) => [t.name, t.dueAt])], ['active', [['abandon', rows[0]!.due_at.toISOString()]]]);
    assert.equal((await alice.request(`sagas/instance?context=${contexts.shop}&saga=checkout&key=nope`)).status, 404);
  });

  it('escapes state values and keys: a <script> in them is text', async () => {
    const list = await (await alice.request(`sagas?context=${contexts.shop}`)).text();
    const detail = await (await alice.request(`sagas/instance?context=${contexts.shop}&saga=checkout&key=${encodeURIComponent(HOSTILE_KEY)}`)).text();
    for (const page of [list, detail]) {
      assert.doesNotMatch(page, /<script>alert|<i>"9"<\/i>/);
      assert.match(page, /&lt;script&gt;alert\((\\)?&quot;saga(\\)?&quot;\)&lt;\/script&gt;/);
      assert.match(page, /c-&lt;i&gt;&quot;9&quot;&lt;\/i&gt;/);
    }
    assert.match(list, /href="\/sagas\/instance\?context=[a-z0-9_]+&amp;saga=checkout&amp;key=c-%3Ci%3E%229%22%3C%2Fi%3E"/, 'the link to it is encoded');
  });

  it('filters by saga and status and pages with cursors', async () => {
    const keys: string[] = [];
    let next: string | null = null;
    let pages = 0;
    do {
      const path: string = `api/sagas?context=${contexts.shop}&saga=checkout&status=active&limit=2${next ? `&cursor=${next}` : ''}`;
      const { status, body } = await alice.json<SagaList>(path);
      assert.equal(status, 200);
      assert.ok(body.instances.every((i) => i.status === 'active'));
      keys.push(...body.instances.map((i) => i.key));
      next = body.nextCursor;
      pages++;
    } while (next && pages < 10);
    const { rows } = await pool.query<{ key: string }>(`SELECT key FROM "${contexts.shop}".saga_instances WHERE status = 'active' ORDER BY saga, key`);
    assert.deepEqual(keys, rows.map((r) => r.key));
    assert.deepEqual([...keys].sort(), [...ACTIVE_KEYS].sort());
    assert.equal(pages, 3);
    const first = await alice.json<SagaList>(`api/sagas?context=${contexts.shop}&status=active&limit=2`);
    assert.equal((await alice.json(`api/sagas?context=${contexts.shop}&status=completed&cursor=${first.body.nextCursor}`)).status, 400, 'a cursor belongs to its query');
    const html = await (await alice.request(`sagas?context=${contexts.shop}&status=active&limit=2`)).text();
    assert.match(html, /rel="next"/);
    const completed = await alice.json<SagaList>(`api/sagas?context=${contexts.shop}&status=completed`);
    assert.deepEqual(completed.body.instances.map((i) => i.key), ['c-3']);
  });

  it('shows an empty state for a context without sagas, and for one without the saga tables', async () => {
    const empty = await alice.request(`sagas?context=${contexts.empty}`);
    assert.equal(empty.status, 200);
    assert.match(await empty.text(), /No saga has run in <code>[a-z0-9_]+<\/code> yet/);
    const old = await alice.request(`sagas?context=${contexts.old}`);
    assert.equal(old.status, 200);
    assert.match(await old.text(), /No saga tables in <code>[a-z0-9_]+<\/code>/);
    const api = await alice.json<SagaList>(`api/sagas?context=${contexts.old}`);
    assert.deepEqual([api.body.instances, api.body.contexts.map((c) => [c.context, c.available, c.sagas.length])], [
      [],
      [
        [contexts.empty, true, 0],
        [contexts.shop, true, 1],
        [contexts.old, false, 0],
      ],
    ]);
    assert.equal((await alice.request(`sagas/instance?context=${contexts.old}&saga=checkout&key=c-1`)).status, 404);
  });

  it('refuses hostile query fields with clear 400s, on the pages and the API, never a 500', async () => {
    const shop = `context=${contexts.shop}`;
    const cases: [string, RegExp][] = [
      [`sagas?${shop}&status=running`, /status/],
      [`sagas?${shop}&status=active%27%20OR%201=1`, /status/],
      [`sagas?${shop}&saga=x%27%20OR%201=1--`, /saga/],
      [`sagas?${shop}&saga=${'s'.repeat(201)}`, /saga/],
      [`sagas?${shop}&saga=a&saga=b`, /more than once/],
      [`sagas?${shop}&limit=0`, /limit/],
      [`sagas?${shop}&limit=201`, /limit/],
      [`sagas?${shop}&limit=ten`, /limit/],
      [`sagas?${shop}&cursor=garbage!`, /cursor/],
      [`sagas?${shop}&cursor=eyJxIjoiIiwicCI6e319`, /cursor/],
      [`sagas?${shop}&cursor=${'A'.repeat(1999)}`, /cursor/],
      [`sagas?${shop}&sort=key`, /unknown field 'sort'/],
      ['sagas?context=public', /unknown context/],
      [`sagas/instance?${shop}&saga=checkout`, /key/],
      [`sagas/instance?${shop}&key=c-1`, /saga/],
      [`sagas/instance?${shop}&saga=checkout&key=a%00b`, /key/],
      [`sagas/instance?${shop}&saga=checkout&key=${'k'.repeat(501)}`, /key/],
      [`sagas/instance?saga=checkout&key=c-1`, /context/],
    ];
    for (const [path, message] of cases) {
      const { status, body } = await alice.json<ApiError>(`api/${path}`);
      assert.equal(status, 400, `api/${path}`);
      assert.match(body.error.message + (body.error.field ?? ''), message, path);
      const page = await alice.request(path);
      assert.equal(page.status, 400, path);
      assert.match(await page.text(), /<p class="error" data-status="400">/, path);
    }
  });
});
