/**
 * The admin panel over real HTTP on an ephemeral port, against real PostgreSQL: sign-in and
 * sessions, roles, CSRF, security headers, hostile input, frozen bulk actions racing new
 * failures, the audit log, search paging, and how it mounts and refuses to run unprotected.
 */
import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { ConfigError, createAdminPanel, hashPassword } from '../../src/index.js';
import { type AdminWorld, adminWorld, Client, PASSWORDS } from '../helpers/admin.js';
import { waitFor } from '../helpers/db.js';

type ApiError = { error: { status: number; code: string; message: string; field?: string } };
type Action = { id: number; status: string; total: number; done: number; failed: number; alreadyResolved: number; pending: number; requested: number };

describe('admin panel over HTTP', () => {
  let world: AdminWorld;
  let alice: Client;
  let victor: Client;

  before(async () => {
    world = await adminWorld();
    alice = world.client();
    victor = world.client();
    assert.equal((await alice.login('alice', PASSWORDS.alice)).status, 303);
    assert.equal((await victor.login('victor', PASSWORDS.victor)).status, 303);
  });
  after(() => world.close());

  it('requires sign-in: pages redirect to the login form, the API answers 401', async () => {
    const anonymous = world.client();
    const page = await anonymous.request('');
    assert.equal(page.status, 303);
    assert.equal(page.headers.get('location'), '/login');
    const api = await anonymous.json<ApiError>('api/overview');
    assert.equal(api.status, 401);
    assert.equal(api.body.error.code, 'HERALD_ADMIN_REQUEST');
    assert.equal((await alice.json('api/overview')).status, 200);
  });

  it('sets a fresh HttpOnly, SameSite=Strict session cookie at login; wrong passwords are refused and rate limited', async () => {
    const client = world.client();
    await client.request('login');
    const before = client.cookie;
    const wrong = await client.login('alice', 'not her password');
    assert.equal(wrong.status, 401);
    const ok = await client.login('alice', PASSWORDS.alice);
    const cookie = ok.headers.get('set-cookie') ?? '';
    assert.match(cookie, /^herald_admin=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict$/);
    assert.notEqual(client.cookie, before, 'a new session id at login');

    // Five failures for one user name: then even the right password is refused for a while.
    const attacker = world.client();
    for (let i = 0; i < 5; i++) assert.equal((await attacker.login('victor', `guess-${i}-xx`)).status, 401);
    const blocked = await attacker.login('victor', PASSWORDS.victor);
    assert.equal(blocked.status, 429);
    assert.ok(Number(blocked.headers.get('retry-after')) > 0);
    assert.equal((await world.client().login('victor', PASSWORDS.victor)).status, 429, 'the user name is blocked, whichever client asks');
    assert.equal((await world.client().login('alice', PASSWORDS.alice)).status, 303, 'another user is not');
  });

  it('sends security headers on every response, and no-store on the API', async () => {
    for (const path of ['login', 'api/overview', 'assets/panel.js', 'nope']) {
      const response = await alice.request(path);
      const csp = response.headers.get('content-security-policy') ?? '';
      assert.match(csp, /script-src 'self'/, path);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, path);
      assert.match(csp, /frame-ancestors 'none'/, path);
      assert.equal(response.headers.get('x-frame-options'), 'DENY', path);
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff', path);
      assert.equal(response.headers.get('referrer-policy'), 'no-referrer', path);
    }
    assert.equal((await alice.request('api/overview')).headers.get('cache-control'), 'no-store');
    assert.equal((await alice.request('')).headers.get('cache-control'), 'no-store');
  });

  it('operators pause, resume and reset a subscription; each control is audited; viewers and bad input are refused', async () => {
    const status = async () => (await world.herald.status()).subscriptions.find((s) => s.name === 'billing.charge')!;
    const overview = await (await alice.request('')).text();
    assert.match(overview, /data-control="pause"/, 'operators see the controls');
    assert.doesNotMatch(await (await victor.request('')).text(), /data-control=/, 'viewers do not');
    assert.equal((await victor.postJson('api/subscriptions/pause', { name: 'billing.charge' })).status, 403);
    const paused = await alice.postJson('api/subscriptions/pause', { name: 'billing.charge', reason: 'investigating' });
    assert.equal(paused.status, 200);
    await waitFor(async () => (await status()).state === 'paused', { message: 'paused' });
    assert.match(await (await alice.request('')).text(), /data-control="resume"/);
    const resumed = await alice.form('subscriptions/resume', { name: 'billing.charge' });
    assert.equal(resumed.status, 303, 'the form redirects back to the overview');
    await waitFor(async () => (await status()).state === 'running', { message: 'resumed' });
    const badTarget = await alice.postJson('api/subscriptions/reset', { name: 'billing.charge', to: 'yesterday; DROP TABLE x' });
    assert.equal(badTarget.status, 400);
    assert.equal(((await badTarget.json()) as ApiError).error.field, 'to');
    assert.equal((await alice.postJson('api/subscriptions/reset', { name: 'no.such', to: 'origin' })).status, 404);
    const reset = await alice.postJson('api/subscriptions/reset', { name: 'billing.charge', to: 'current' });
    assert.equal(reset.status, 200);
    const { rows } = await world.pool.query(`SELECT actor, action, target, outcome FROM "${world.context}".audit_log WHERE action LIKE 'subscription.%' ORDER BY id`);
    assert.deepEqual(
      rows.map((r) => [r.actor, r.action, r.target, r.outcome.split(':')[0]]),
      [
        ['alice', 'subscription.pause', 'billing.charge', 'requested'],
        ['alice', 'subscription.resume', 'billing.charge', 'resumed'],
        ['alice', 'subscription.reset', 'no.such', 'refused'],
        ['alice', 'subscription.reset', 'billing.charge', rows[3]?.outcome.split(':')[0]],
      ],
    );
    assert.ok(['reset', 'requested'].includes(rows[3]!.outcome));
  });

  it('enforces roles on the server: a viewer reads everything and changes nothing', async () => {
    const [parked] = await world.poison('role', 1);
    assert.equal((await victor.json('api/failures/list?target=events')).status, 200);
    const refused = await victor.postJson('api/failures/event/retry', { subscription: 'billing.charge', eventNumber: parked!.eventNumber });
    assert.equal(refused.status, 403);
    assert.match(((await refused.json()) as ApiError).error.message, /viewers/);
    const form = await victor.form('failures/event/retry', { subscription: 'billing.charge', eventNumber: String(parked!.eventNumber) });
    assert.equal(form.status, 403);
    assert.equal((await world.herald.parked.get('billing.charge', parked!.eventNumber))?.status, 'parked');
    const page = await (await victor.request(`failures/event?subscription=billing.charge&eventNumber=${parked!.eventNumber}`)).text();
    assert.doesNotMatch(page, /name="retry"/, 'no retry button for a viewer');
    assert.match(page, /&lt;script&gt;alert\(\\&quot;x\\&quot;\)&lt;\/script&gt;/, 'the payload is escaped');
    assert.doesNotMatch(page, /<script>alert/);

    world.fixed.add(parked!.eventId);
    const done = await alice.postJson('api/failures/event/retry', { subscription: 'billing.charge', eventNumber: parked!.eventNumber, wait: true });
    assert.equal(done.status, 200);
    assert.equal(((await done.json()) as { status: string }).status, 'retried');
  });

  it('checks the CSRF token before anything else', async () => {
    const [parked] = await world.poison('csrf', 1);
    const other = world.client();
    await other.login('alice', PASSWORDS.alice);
    const body = { subscription: 'billing.charge', eventNumber: parked!.eventNumber };
    for (const token of [null, '', 'x'.repeat(43), other.csrf!]) {
      const response = await alice.postJson('api/failures/event/retry', body, token);
      assert.equal(response.status, 403, `token ${token}`);
      assert.match(((await response.json()) as ApiError).error.message, /CSRF/);
    }
    assert.equal((await alice.form('failures/event/retry', { subscription: 'billing.charge', eventNumber: String(parked!.eventNumber) }, 'forged')).status, 403);
    // A viewer without a token hears about the token, not the role: it is checked first.
    assert.match(((await (await victor.postJson('api/failures/event/retry', body, null)).json()) as ApiError).error.message, /CSRF/);
    assert.equal((await world.herald.parked.get('billing.charge', parked!.eventNumber))?.status, 'parked', 'nothing happened');
    const audit = await alice.json<{ entries: { target: string }[] }>('api/audit?actor=alice');
    assert.ok(!audit.body.entries.some((e) => e.target === `billing.charge #${parked!.eventNumber}`), 'nothing audited');
  });

  it('refuses hostile input with clear 400s (and 413 for a huge body); values are never SQL', async () => {
    const cases: [string, number, RegExp][] = [
      ['api/search?cursor=garbage!', 400, /cursor/],
      ['api/search?cursor=eyJxIjoiIiwicCI6e319', 400, /cursor/],
      ['api/search?limit=100000', 400, /limit/],
      ['api/search?limit=-1', 400, /limit/],
      ["api/search?eventId=1'%20OR%20'1'='1", 400, /eventId/],
      ['api/search?since=yesterday', 400, /since/],
      ['api/search?sort=created_at', 400, /unknown field 'sort'/],
      ['api/search?type=a&type=b', 400, /more than once/],
      [`api/search?type=${'a'.repeat(2001)}`, 400, /longer/],
      [`api/search?type=x&streamId=${'b'.repeat(1990)}&correlationId=${'c'.repeat(1990)}&causationId=${'d'.repeat(200)}`, 400, /too long/],
      ["api/failures/list?owner=x'%20OR%201=1--", 400, /subscription name/],
      ['api/failures/list?fingerprint=1;DROP%20TABLE%20events', 400, /fingerprint/],
      ['api/failures/list?target=pg_tables', 400, /target/],
      ['api/failures?context=public', 400, /unknown context/],
      ['api/journey?event=1;DROP%20TABLE%20events', 400, /event/],
      ['api/actions/one?id=1e9', 400, /id/],
    ];
    for (const [path, status, message] of cases) {
      const { status: got, body } = await alice.json<ApiError>(path);
      assert.equal(got, status, path);
      assert.match(body.error.message, message, path);
    }
    const injected = await alice.json<{ events: unknown[] }>("api/search?type=x'%20OR%20'1'='1");
    assert.equal(injected.status, 200, 'free text is a value: it matches nothing');
    assert.equal(injected.body.events.length, 0);
    const posts: [unknown, number, RegExp][] = [
      [{ kind: 'retry', target: 'events', filter: { owner: 'billing.charge', where: '1=1' } }, 400, /unknown field/],
      [{ kind: 'retry', target: 'events', filter: { fingerprint: "' OR 1=1" } }, 400, /fingerprint/],
      [{ kind: 'drop', target: 'events' }, 400, /kind/],
      [{ kind: 'skip', target: 'events', filter: {} }, 400, /reason/],
      [{ kind: 'retry', target: 'events', extra: 1 }, 400, /unknown field 'extra'/],
    ];
    for (const [body, status, message] of posts) {
      const response = await alice.postJson('api/bulk', body);
      assert.equal(response.status, status, JSON.stringify(body));
      assert.match(((await response.json()) as ApiError).error.message, message);
    }
    const huge = await alice.postJson('api/bulk', { kind: 'retry', target: 'events', reason: 'x'.repeat(70_000) });
    assert.equal(huge.status, 413);
    const malformed = await alice.request('api/bulk', { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': alice.csrf! }, body: '{"kind":' });
    assert.equal(malformed.status, 400);
    const plain = await alice.request('api/bulk', { method: 'POST', headers: { 'content-type': 'text/plain', 'x-csrf-token': alice.csrf! }, body: 'kind=retry' });
    assert.equal(plain.status, 415);
    assert.equal((await alice.request('api/nothing-here')).status, 404);
    assert.equal((await alice.request('api/search', { method: 'DELETE' })).status, 405);
    const { rows } = await world.pool.query(`SELECT count(*)::int AS n FROM "${world.context}".events`);
    assert.ok(rows[0].n > 0, 'the log is intact');
  });

  it('a frozen bulk retry races new failures and touches only the frozen set; every step is audited', async () => {
    await world.poison('bulk', 5);
    // Every open failure so far (earlier tests' too) has this fingerprint and will be frozen.
    const frozen = await world.herald.parked.list({ subscription: 'billing.charge', status: 'parked' }, { limit: 1000 });
    const fingerprint = frozen[0]!.fingerprint!;
    assert.ok(frozen.every((p) => p.fingerprint === fingerprint));
    const dry = await alice.json<{ count: number }>(`api/bulk/dry-run?target=events&owner=billing.charge&fingerprint=${fingerprint}`);
    assert.equal(dry.body.count, frozen.length);
    const created = await alice.postJson('api/bulk', { kind: 'retry', target: 'events', filter: { owner: 'billing.charge', fingerprint } });
    assert.equal(created.status, 201);
    const { action } = (await created.json()) as { action: Action };
    assert.equal(action.total, frozen.length);
    assert.equal(action.status, 'frozen');

    // New failures of the same fingerprint after the freeze; they would succeed if retried.
    const late = await world.poison('late', 3);
    for (const p of [...frozen, ...late]) world.fixed.add(p.eventId);
    const run = await alice.postJson('api/actions/run', { id: action.id });
    assert.equal(run.status, 202);
    const during = await world.poison('racing', 2); // parked while the action may still run
    for (const p of during) world.fixed.add(p.eventId);
    const ended = await waitFor(
      async () => {
        const { body } = await alice.json<{ action: Action }>(`api/actions/one?id=${action.id}`);
        return body.action.status === 'finished' ? body.action : undefined;
      },
      { message: 'bulk action finished', timeoutMs: 30_000 },
    );
    assert.equal(ended.done, frozen.length);
    assert.equal(ended.pending + ended.requested + ended.failed, 0);
    for (const p of frozen) assert.equal((await world.herald.parked.get('billing.charge', p.eventNumber))?.status, 'retried');
    for (const p of [...late, ...during]) {
      const row = await world.herald.parked.get('billing.charge', p.eventNumber);
      assert.equal(row?.status, 'parked', 'a failure after the freeze is untouched');
      assert.equal(row?.attempts.length, 1);
    }
    assert.equal((await alice.postJson('api/actions/run', { id: action.id })).status, 409, 'a finished action does not run again');
    assert.equal((await alice.postJson('api/actions/run', { id: 999_999 })).status, 404);

    const audit = await alice.json<{ entries: { action: string; outcome: string; count: number | null; filter: unknown }[] }>('api/audit?actor=alice&limit=200');
    const steps = audit.body.entries.map((e) => `${e.action}:${e.outcome}`);
    for (const step of ['bulk.freeze:frozen', 'bulk.run:started', 'bulk.finish:finished', 'event.retry:retried']) assert.ok(steps.includes(step), `${step} in ${steps}`);
    const freeze = audit.body.entries.find((e) => e.action === 'bulk.freeze')!;
    assert.equal(freeze.count, frozen.length);
    assert.deepEqual(freeze.filter, { owner: 'billing.charge', fingerprint });
  });

  it('pages search results with cursors; a page size over the cap is refused', async () => {
    const correlationId = `corr-${world.context}`;
    for (let i = 0; i < 5; i++) await world.herald.append(`search-${i}`, { type: 'Searched', data: { i } }, { correlationId });
    const seen: number[] = [];
    let next: string | null = null;
    let pages = 0;
    do {
      const path: string = `api/search?correlationId=${correlationId}&limit=2${next ? `&cursor=${next}` : ''}`;
      const { status, body } = await alice.json<{ events: { data?: unknown; streamId: string }[]; nextCursor: string | null }>(path);
      assert.equal(status, 200);
      seen.push(...body.events.map((e) => Number(e.streamId.slice(7))));
      next = body.nextCursor;
      pages++;
    } while (next && pages < 10);
    assert.deepEqual(seen, [4, 3, 2, 1, 0]);
    assert.equal(pages, 3);
    const first = await alice.json<{ nextCursor: string }>(`api/search?correlationId=${correlationId}&limit=2`);
    assert.equal((await alice.json(`api/search?type=Searched&cursor=${first.body.nextCursor}`)).status, 400, 'a cursor belongs to its query');
    assert.equal((await alice.json('api/search?limit=201')).status, 400);
    const html = await (await alice.request(`search?correlationId=${correlationId}&limit=2`)).text();
    assert.match(html, /rel="next"/);
  });

  it('ends sessions: sign-out, and expiry after being idle', async () => {
    const client = world.client();
    await client.login('alice', PASSWORDS.alice);
    assert.equal((await client.form('logout', {})).status, 303);
    assert.equal((await client.json('api/overview')).status, 401);

    const short = await adminWorld({ sessionIdleMs: 300 });
    try {
      const idle = short.client();
      await idle.login('alice', PASSWORDS.alice);
      assert.equal((await idle.json('api/overview')).status, 200);
      // Any request would count as use, so nothing can be polled: the idle time itself is what is tested.
      await new Promise((resolve) => setTimeout(resolve, 400));
      assert.equal((await idle.json('api/overview')).status, 401);
    } finally {
      await short.close();
    }
  });

  it('mounts under a base path in an existing server, and refuses to run unprotected', async () => {
    await assert.rejects(async () => createAdminPanel({ heralds: [world.herald] }), ConfigError);
    const local = createAdminPanel({ heralds: [world.herald], allowUnauthenticatedLocalhost: true, basePath: '/admin' });
    await assert.rejects(local.listen({ host: '0.0.0.0' }), /127\.0\.0\.1 or ::1 only/);
    const server = createServer((req, res) => {
      void local.handler(req, res, () => {
        res.writeHead(418);
        res.end('host app');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      assert.equal((await fetch(`http://127.0.0.1:${port}/other`)).status, 418, 'outside the base path: next()');
      const page = await fetch(`http://127.0.0.1:${port}/admin/`);
      assert.equal(page.status, 200);
      assert.match(page.headers.get('set-cookie') ?? '', /Path=\/admin; HttpOnly; SameSite=Strict/);
      assert.match(await page.text(), /local <span class="role">operator<\/span>/);
      const rebound = await new Promise<number>((resolve, reject) =>
        request({ host: '127.0.0.1', port, path: '/admin/', headers: { host: 'evil.example' } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
          .on('error', reject)
          .end(),
      );
      assert.equal(rebound, 403, 'a foreign Host header (DNS rebinding) is refused');
    } finally {
      await local.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    const https = createAdminPanel({ heralds: [world.herald], users: [{ name: 'x', role: 'viewer', passwordHash: await hashPassword('password-x', { cost: 1024 }) }], https: true });
    const { url } = await https.listen();
    try {
      const login = await fetch(`${url}login`);
      assert.match(login.headers.get('set-cookie') ?? '', /; Secure$/);
      assert.match(login.headers.get('strict-transport-security') ?? '', /max-age=/);
    } finally {
      await https.close();
    }
  });
});
