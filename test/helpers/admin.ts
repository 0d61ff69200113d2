/**
 * An admin panel world for the admin tests: a context whose subscription `billing.charge` parks
 * `Poison` events (until `fixed`), a panel with an operator (alice) and a viewer (victor) on an
 * ephemeral port, and an HTTP client with a cookie jar that signs in like a browser.
 */
import type pg from 'pg';
import { createAdminPanel, createHerald, hashPassword, type AdminPanel, type AdminPanelOptions, type Herald, park } from '../../src/index.js';
import { createPool, dropContext, uniqueContext, waitFor } from './db.js';

export const PASSWORDS = { alice: 'alice-secret-1', victor: 'victor-secret-1' } as const;

export interface AdminWorld {
  readonly pool: pg.Pool;
  readonly context: string;
  readonly herald: Herald;
  readonly panel: AdminPanel;
  readonly url: string;
  /** Handlers succeed for these event ids (or all, with `fixAll`). */
  readonly fixed: Set<string>;
  fixAll: boolean;
  /** Appends `count` Poison events to streams `<prefix>-i` and waits until they are parked. */
  poison(prefix: string, count: number): Promise<{ eventNumber: number; eventId: string; fingerprint: string | null }[]>;
  client(): Client;
  close(): Promise<void>;
}

export async function adminWorld(options: Partial<AdminPanelOptions> = {}): Promise<AdminWorld> {
  const pool = createPool(10);
  const context = uniqueContext('adm');
  const herald = createHerald({ pool, context, pollMs: 50, sequencer: { idlePollMs: 20 } });
  await herald.migrate();
  const world = { fixed: new Set<string>(), fixAll: false } as { fixed: Set<string>; fixAll: boolean };
  herald.subscribe({
    name: 'billing.charge',
    onError: () => park('needs a person'),
    async handle(event, meta) {
      if (event.type === 'Poison' && !world.fixAll && !world.fixed.has(meta.eventId)) throw new TypeError(`cannot charge ${meta.streamId}`);
    },
  });
  await herald.start();
  const users = [
    { name: 'alice', role: 'operator' as const, passwordHash: await hashPassword(PASSWORDS.alice, { cost: 1024 }) },
    { name: 'victor', role: 'viewer' as const, passwordHash: await hashPassword(PASSWORDS.victor, { cost: 1024 }) },
  ];
  const panel = createAdminPanel({ heralds: [herald], users, sampleEveryMs: 200, ...options });
  const { url } = await panel.listen({ port: 0, host: '127.0.0.1' });
  const parkedOf = async (prefix: string) =>
    (await herald.parked.list({ subscription: 'billing.charge', status: 'parked' }, { limit: 1000 })).filter((p) => p.streamId.startsWith(`${prefix}-`));
  return Object.assign(world, {
    pool,
    context,
    herald,
    panel,
    url,
    async poison(prefix: string, count: number) {
      for (let i = 0; i < count; i++) await herald.append(`${prefix}-${i}`, { type: 'Poison', data: { i, note: '<script>alert("x")</script>' } });
      const rows = await waitFor(async () => ((await parkedOf(prefix)).length === count ? parkedOf(prefix) : undefined), {
        message: `${count} ${prefix} events parked`,
        timeoutMs: 30_000,
      });
      return rows.map((r) => ({ eventNumber: r.eventNumber, eventId: r.eventId, fingerprint: r.fingerprint }));
    },
    client: () => new Client(url),
    async close() {
      await panel.close();
      await herald.stop();
      await dropContext(pool, context);
      await pool.end();
    },
  });
}

/** A browser-like HTTP client: keeps the session cookie, reads the CSRF token from pages. */
export class Client {
  cookie: string | undefined;
  csrf: string | undefined;

  constructor(readonly base: string) {}

  async request(path: string, init: { method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<Response> {
    const response = await fetch(new URL(path, this.base), {
      method: init.method ?? 'GET',
      redirect: 'manual',
      headers: { ...(this.cookie ? { cookie: this.cookie } : {}), ...init.headers },
      ...(init.body !== undefined ? { body: init.body } : {}),
    });
    const set = response.headers.get('set-cookie');
    if (set) this.cookie = set.split(';')[0]!.endsWith('=') ? undefined : set.split(';')[0];
    return response;
  }

  /** Opens the login page (an anonymous session with its CSRF token) and signs in; resolves to the response of the POST. */
  async login(name: string, password: string): Promise<Response> {
    const page = await (await this.request('login')).text();
    this.csrf = /name="_csrf" value="([^"]+)"/.exec(page)?.[1];
    const response = await this.form('login', { username: name, password });
    if (response.status === 303) await this.session();
    return response;
  }

  /** Reads the signed-in session's CSRF token from the API. */
  async session(): Promise<void> {
    const body = (await (await this.request('api/session')).json()) as { csrfToken?: string };
    this.csrf = body.csrfToken;
  }

  form(path: string, fields: Record<string, string>, csrf = this.csrf): Promise<Response> {
    return this.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...(csrf ? { _csrf: csrf } : {}), ...fields }).toString(),
    });
  }

  /** Posts JSON with the session's CSRF token, another one, or none (`null`). */
  postJson(path: string, body: unknown, csrf: string | null = this.csrf ?? null): Promise<Response> {
    return this.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(csrf !== null ? { 'x-csrf-token': csrf } : {}) },
      body: JSON.stringify(body),
    });
  }

  async json<T = Record<string, unknown>>(path: string): Promise<{ status: number; body: T }> {
    const response = await this.request(path);
    return { status: response.status, body: (await response.json()) as T };
  }
}
