/**
 * `npm run screenshots`: builds a small demo (a context whose billing subscription parks some
 * events, with traffic for the throughput sparklines, a bulk action, audit entries and a checkout
 * saga per correlation), opens the
 * admin panel in Debian's Chromium (/usr/bin/chromium) and writes docs/screenshots/*.png.
 * Runs on DATABASE_URL, or an embedded PostgreSQL when it is not set.
 */
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { createAdminPanel, createHerald, hashPassword, openDatabase, park } from '../../src/index.js';
import { registerSaga } from '../../src/sagas/index.js';

/** Headless on this kind of machine: no sandbox (root), no GPU, and none of Chromium's background traffic (the network is closed). */
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const OUT = 'docs/screenshots';
const db = await openDatabase();
const context = 'demo_shop';
await db.pool.query(`DROP SCHEMA IF EXISTS ${context} CASCADE`);
const shop = createHerald({ pool: db.pool, context, pollMs: 50 });
await shop.migrate();
const declined = new Set<string>();
shop.subscribe({ name: 'shop.receipts', async handle() {} });
shop.subscribe({
  name: 'billing.charge',
  onError: (error) => park(error instanceof RangeError ? 'card declined' : 'needs a person'),
  async handle(event, meta) {
    const data = event.data as { total: number };
    if (declined.has(meta.eventId)) throw new RangeError(`card declined for ${meta.streamId}`);
    if (data.total > 900) throw new TypeError(`cannot read property 'iban' of undefined (${meta.streamId})`);
  },
});
// One checkout per correlation: placed (waiting for payment, with a reminder due) → paid; too large: compensated.
registerSaga<{ total: number }>(shop, {
  name: 'checkout',
  initialState: () => ({ total: 0 }),
  on: {
    OrderPlaced: {
      starts: true,
      key: (e) => e.metadata.correlationId ?? undefined,
      async handle(_state, event, ctx) {
        const { total } = event.data as { total: number };
        ctx.done('reserve');
        if (total > 900) await ctx.compensate('total over the card limit');
        else ctx.schedule('payment-reminder', { ms: 30 * 60_000 }, { total });
        return { total };
      },
    },
    OrderPaid: { key: (e) => e.metadata.correlationId ?? undefined, handle: (_state, _event, ctx) => ctx.complete() },
  },
  compensations: {
    async reserve(_state, ctx) {
      await ctx.append(`stock-${ctx.key}`, { type: 'StockReleased', data: {} });
    },
  },
});
await shop.start();
const panel = createAdminPanel({
  heralds: [shop],
  users: [{ name: 'alice', role: 'operator', passwordHash: await hashPassword('demo-password') }],
  sampleEveryMs: 300,
});
const { url } = await panel.listen();
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
try {
  // Traffic in waves, so the sparklines have a shape; some orders fail billing.
  for (let wave = 0; wave < 12; wave++) {
    const count = [4, 10, 18, 12, 6, 14, 20, 9, 5, 16, 11, 7][wave]!;
    for (let i = 0; i < count; i++) {
      const n = wave * 100 + i;
      const total = n % 37 === 5 ? 950 : 20 + (n % 50);
      const { eventIds } = await shop.append(`order-${n}`, { type: total > 900 ? 'OrderPlaced' : n % 3 ? 'OrderPlaced' : 'OrderPaid', data: { orderId: `o-${n}`, total } }, { correlationId: `checkout-${Math.floor(n / 2)}` });
      if (n % 29 === 3) declined.add(eventIds[0]!);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  const parked = await shop.parked.list({ subscription: 'billing.charge' });
  const declinedOnes = parked.filter((p) => p.error.type === 'RangeError');
  const action = await shop.operations.bulk.freeze({ kind: 'skip', target: 'events', filter: { owner: 'billing.charge', fingerprint: declinedOnes[0]!.fingerprint! }, reason: 'customers were emailed', actor: 'alice' });
  await shop.operations.bulk.run(action.id, { actor: 'alice' });
  await shop.operations.failures.retryEvent('alice', 'billing.charge', parked.find((p) => p.error.type === 'TypeError')!.eventNumber, { wait: true });

  mkdirSync(OUT, { recursive: true });
  const page = await (await browser.newContext({ viewport: { width: 1360, height: 820 }, deviceScaleFactor: 1 })).newPage();
  await page.goto(`${url}login`);
  await page.screenshot({ path: `${OUT}/login.png` });
  await page.fill('input[name="username"]', 'alice');
  await page.fill('input[name="password"]', 'demo-password');
  await page.click('button[type="submit"]');
  await page.waitForSelector('svg.spark');
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const shots: [string, string][] = [
    ['overview', ''],
    ['failures', 'failures'],
    ['failure-list', `failures/list?target=events&owner=billing.charge&fingerprint=${parked.find((p) => p.error.type === 'TypeError')!.fingerprint}`],
    ['parked-event', `failures/event?subscription=billing.charge&eventNumber=${parked.filter((p) => p.error.type === 'TypeError').at(-1)!.eventNumber}`],
    ['bulk', `bulk?target=events&owner=billing.charge&fingerprint=${parked.find((p) => p.error.type === 'TypeError')!.fingerprint}`],
    ['bulk-action', `actions/view?id=${action.id}`],
    ['sagas', 'sagas?limit=14'],
    ['saga', 'sagas/instance?saga=checkout&key=checkout-0'],
    ['search', 'search?type=OrderPaid&limit=12'],
    ['journey', `journey?event=${parked[0]!.eventNumber}`],
    ['audit', 'audit'],
  ];
  for (const [name, path] of shots) {
    await page.goto(`${url}${path}`);
    await page.screenshot({ path: `${OUT}/${name}.png`, fullPage: name !== 'parked-event' });
    console.log(`${OUT}/${name}.png`);
  }
} finally {
  await browser.close();
  await panel.close();
  await shop.stop();
  await db.pool.query(`DROP SCHEMA IF EXISTS ${context} CASCADE`);
  await db.close();
}
