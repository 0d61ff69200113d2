/**
 * The admin panel in a real browser (Debian's Chromium through playwright-core): sign in, find a
 * parked event, retry it and watch the overview drain live; a viewer cannot retry; a bulk action
 * frozen in the browser touches only its frozen set while new failures arrive.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext } from 'playwright-core';
import { type AdminWorld, adminWorld, PASSWORDS } from '../helpers/admin.js';
import { launchChromium } from '../helpers/browser.js';

describe('admin panel in a browser', () => {
  let world: AdminWorld;
  let browser: Browser | undefined;
  let skip: string | undefined;
  const contexts: BrowserContext[] = [];

  before(async () => {
    const launched = await launchChromium();
    if (typeof launched === 'string') skip = launched;
    else browser = launched;
    world = await adminWorld();
  });
  after(async () => {
    for (const c of contexts) await c.close();
    await browser?.close();
    await world.close();
  });

  /** A fresh browser profile signed in as `name` through the login form. */
  const signIn = async (name: 'alice' | 'victor'): Promise<{ context: BrowserContext; page: Awaited<ReturnType<BrowserContext['newPage']>> }> => {
    const context = await browser!.newContext({ baseURL: world.url, viewport: { width: 1400, height: 900 } });
    contexts.push(context);
    const page = await context.newPage();
    await page.goto('login');
    await page.fill('input[name="username"]', name);
    await page.fill('input[name="password"]', PASSWORDS[name]);
    await page.click('button[type="submit"]');
    await page.waitForSelector(`.who:has-text("${name}")`);
    return { context, page };
  };
  const parkedSelector = () => `[data-live-key="${world.context}|billing.charge|parked"]`;

  it('an operator signs in, finds a parked event, retries it, and sees the overview drain live', async (t) => {
    if (skip) return t.skip(skip);
    const [parked] = await world.poison('drain', 1);
    const { context, page: overview } = await signIn('alice');
    await overview.waitForSelector(`${parkedSelector()}:text-is("1")`);
    const errors: string[] = [];
    overview.on('pageerror', (error) => errors.push(error.message));
    overview.on('console', (message) => message.type() === 'error' && errors.push(message.text()));

    // In another tab: Failures → the fingerprint's group → the event → Retry.
    const tab = await context.newPage();
    await tab.goto('failures');
    await tab.click(`a.mono:has-text("${parked!.fingerprint}")`);
    await tab.click(`a:text-is("${parked!.eventNumber}")`);
    await tab.waitForSelector('h1:has-text("in billing.charge")');
    assert.match((await tab.textContent('pre.payload')) ?? '', /<script>alert/, 'the payload shows as text');
    world.fixed.add(parked!.eventId);
    await tab.click('button[name="retry"]');
    await tab.waitForSelector('.flash.ok:has-text("Retry requested")');
    await tab.waitForSelector('[data-watch-status] .badge:text-is("retried")', { timeout: 20_000 });

    // The overview, never reloaded, drains through the live stream.
    await overview.waitForSelector(`${parkedSelector()}:text-is("0")`, { timeout: 20_000 });
    assert.deepEqual(errors, [], 'no script or CSP errors');
    assert.equal((await world.herald.parked.get('billing.charge', parked!.eventNumber))?.status, 'retried');
  });

  it('a viewer sees the parked event but cannot retry it, not even with a forged form', async (t) => {
    if (skip) return t.skip(skip);
    const [parked] = await world.poison('viewer', 1);
    const { page } = await signIn('victor');
    await page.goto(`failures/event?subscription=billing.charge&eventNumber=${parked!.eventNumber}`);
    await page.waitForSelector('text=Viewers cannot retry or skip');
    assert.equal(await page.locator('button[name="retry"]').count(), 0);
    const csrf = await page.getAttribute('body', 'data-csrf');
    const forged = await page.request.post('failures/event/retry', {
      form: { _csrf: csrf!, subscription: 'billing.charge', eventNumber: String(parked!.eventNumber) },
      maxRedirects: 0,
    });
    assert.equal(forged.status(), 403);
    assert.equal((await world.herald.parked.get('billing.charge', parked!.eventNumber))?.status, 'parked');
  });

  it('a bulk retry frozen in the browser touches only its frozen set while new failures arrive', async (t) => {
    if (skip) return t.skip(skip);
    await world.poison('wave', 3);
    const open = await world.herald.parked.list({ subscription: 'billing.charge', status: 'parked' }, { limit: 1000 });
    const fingerprint = open[0]!.fingerprint!;
    const { page } = await signIn('alice');
    await page.goto(`bulk?target=events&owner=billing.charge&fingerprint=${fingerprint}`);
    assert.equal(await page.getAttribute('[data-dry-run]', 'data-dry-run'), String(open.length));
    await page.click(`button:has-text("Freeze these ${open.length}")`);
    await page.waitForSelector('.flash.ok:has-text("Frozen")');
    assert.equal(await page.textContent('[data-action-field="total"]'), String(open.length));

    // After the freeze: new failures of the same fingerprint. Everything would succeed now.
    const late = await world.poison('after', 2);
    for (const p of [...open, ...late]) world.fixed.add(p.eventId);
    await page.click('button[name="run"]');
    await page.waitForSelector('[data-action-status] .badge:text-is("finished")', { timeout: 30_000 });
    assert.equal(await page.textContent('[data-action-field="done"]'), String(open.length));
    for (const p of open) assert.equal((await world.herald.parked.get('billing.charge', p.eventNumber))?.status, 'retried');
    for (const p of late) assert.equal((await world.herald.parked.get('billing.charge', p.eventNumber))?.status, 'parked', 'untouched');
  });
});
