/**
 * The operations layer the admin panel and the CLI share: frozen bulk actions racing new failures,
 * the audit log, search in keyset pages (and that its queries use the v7 indexes), journeys.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createHerald, type Herald, InvalidArgumentError, OperatorActionError, park } from '../../src/index.js';
import { createPool, dropContext, uniqueContext, waitFor } from '../helpers/db.js';
import { noteTaker } from '../helpers/note-taker.js';

describe('operations', () => {
  const pool = createPool(10);
  const context = uniqueContext('ops');
  let herald: Herald;
  /** Event ids whose handler succeeds from now on. */
  const fixed = new Set<string>();
  let fixAll = false;

  before(async () => {
    herald = createHerald({ pool, context, pollMs: 50, sequencer: { idlePollMs: 20 } });
    await herald.migrate();
    herald.subscribe({
      name: 'billing.charge',
      onError: () => park('needs a person'),
      async handle(event, meta) {
        if (event.type === 'Poison' && !fixAll && !fixed.has(meta.eventId)) throw new TypeError(`cannot charge ${meta.streamId}`);
      },
    });
    await herald.start();
  });
  after(async () => {
    await herald.stop();
    await dropContext(pool, context);
    await pool.end();
  });

  const parkedOpen = async (prefix: string) =>
    (await herald.parked.list({ subscription: 'billing.charge', status: ['parked'] }, { limit: 1000 })).filter((p) => p.streamId.startsWith(prefix));
  const poison = async (prefix: string, count: number) => {
    for (let i = 0; i < count; i++) await herald.append(`${prefix}-${i}`, { type: 'Poison', data: { i } });
    return waitFor(async () => ((await parkedOpen(prefix)).length === count ? parkedOpen(prefix) : undefined), { message: `${count} ${prefix} parked`, timeoutMs: 20_000 });
  };

  it('a frozen retry acts on the frozen set only: later failures that match stay parked, resolved ones are counted', async () => {
    const frozen = await poison('frz', 6);
    const fingerprint = frozen[0]!.fingerprint!;
    assert.ok(frozen.every((p) => p.fingerprint === fingerprint), 'one fingerprint');
    const filter = { owner: 'billing.charge', fingerprint };
    assert.equal(await herald.operations.bulk.dryRun('events', filter), 6);
    const action = await herald.operations.bulk.freeze({ kind: 'retry', target: 'events', filter, actor: 'alice' });
    assert.equal(action.total, 6);
    assert.equal(action.status, 'frozen');

    // After the freeze: new failures of the same fingerprint, and one frozen member skipped by hand.
    const late = await poison('late', 3);
    assert.ok(late.every((p) => p.fingerprint === fingerprint));
    await herald.parked.skip('billing.charge', frozen[0]!.eventNumber, 'refunded by hand', { wait: true });
    for (const p of frozen) fixed.add(p.eventId);
    for (const p of late) fixed.add(p.eventId); // they would succeed, if anything retried them

    const progress: number[] = [];
    const ended = await herald.operations.bulk.run(action.id, { actor: 'alice', chunkSize: 2, onProgress: (a) => progress.push(a.pending) });
    assert.equal(ended.status, 'finished');
    assert.equal(ended.done, 5);
    assert.equal(ended.alreadyResolved, 1);
    assert.equal(ended.failed + ended.busy + ended.requested + ended.pending, 0);
    assert.ok(progress.length >= 4, 'reports progress chunk by chunk');
    for (const p of frozen.slice(1)) assert.equal((await herald.parked.get('billing.charge', p.eventNumber))?.status, 'retried');
    for (const p of late) {
      const row = await herald.parked.get('billing.charge', p.eventNumber);
      assert.equal(row?.status, 'parked', 'a failure after the freeze is untouched');
      assert.equal(row?.attempts.length, 1);
    }
    const members = await herald.operations.bulk.members(action.id, { outcome: 'already_resolved' });
    assert.deepEqual(members.map((m) => m.key), [String(frozen[0]!.eventNumber)]);
    await assert.rejects(herald.operations.bulk.run(action.id, { actor: 'alice' }), OperatorActionError);

    const audit = await herald.operations.audit.list({ actor: 'alice' });
    assert.deepEqual(audit.entries.map((e) => `${e.action}:${e.outcome}`), ['bulk.finish:finished', 'bulk.run:started', 'bulk.freeze:frozen']);
    assert.equal(audit.entries[2]!.count, 6);
    assert.deepEqual(audit.entries[2]!.filter, filter);
    // The late ones go too, with the panel's single retry (audited as well).
    fixAll = true;
    const outcome = await herald.operations.failures.retryEvent('bob', 'billing.charge', late[0]!.eventNumber, { wait: true });
    assert.equal(outcome.status, 'retried');
    await assert.rejects(herald.operations.failures.retryEvent('bob', 'billing.charge', late[0]!.eventNumber), /already resolved/);
    const bob = await herald.operations.audit.list({ actor: 'bob' });
    assert.deepEqual(bob.entries.map((e) => e.outcome), ['HERALD_NOT_PARKED', 'retried']);
    const groups = await herald.operations.failures.groups('events');
    assert.deepEqual(groups.map((g) => [g.owner, g.fingerprint, g.count, g.eventType]), [['billing.charge', fingerprint, 2, 'Poison']]);
  });

  it('a skip needs a reason; cancelling stops an action; filters are checked', async () => {
    await assert.rejects(herald.operations.bulk.freeze({ kind: 'skip', target: 'events', filter: {}, actor: 'alice' }), InvalidArgumentError);
    await assert.rejects(herald.operations.bulk.dryRun('events', { owner: "x' OR 1=1 --" }), /Invalid subscription name/);
    await assert.rejects(herald.operations.bulk.dryRun('events', { nope: 1 } as never), /unknown field/);
    await assert.rejects(herald.operations.bulk.dryRun('tables' as never, {}), InvalidArgumentError);
    const action = await herald.operations.bulk.freeze({ kind: 'skip', target: 'events', filter: { owner: 'billing.charge' }, reason: 'obsolete', actor: 'carol' });
    assert.equal(action.total, 2, 'the two late failures still parked');
    assert.equal((await herald.operations.bulk.cancel(action.id, 'carol')).status, 'cancelled');
    await assert.rejects(herald.operations.bulk.run(action.id, { actor: 'carol' }), /cancelled/);
    await assert.rejects(herald.operations.bulk.get(999_999), (e: unknown) => e instanceof OperatorActionError && e.reason === 'unknown');
  });

  it('search pages through the log newest first with opaque cursors bound to their query', async () => {
    const correlationId = `corr-${context}`;
    const appended: string[] = [];
    for (let i = 0; i < 7; i++) {
      const result = await herald.append(`search-${i % 2}`, { type: 'Searched', data: { i } }, { correlationId });
      appended.push(result.eventIds[0]!);
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 10; pages++) {
      const page = await herald.operations.search.search({ correlationId }, { limit: 3, ...(cursor ? { cursor } : {}) });
      seen.push(...page.events.map((e) => e.eventId));
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    assert.deepEqual(seen, [...appended].reverse(), 'every event once, newest first');
    const byType = await herald.operations.search.search({ type: 'Searched', streamId: 'search-1' });
    assert.equal(byType.events.length, 3);
    const byId = await herald.operations.search.search({ eventId: appended[2]! });
    assert.equal(byId.events[0]?.streamId, 'search-0');
    const first = await herald.operations.search.search({ correlationId }, { limit: 3 });
    await assert.rejects(herald.operations.search.search({ type: 'Searched' }, { cursor: first.nextCursor! }), /another query/);
    await assert.rejects(herald.operations.search.search({}, { cursor: 'not-a-cursor!' }), /cursor/);
    await assert.rejects(herald.operations.search.search({}, { limit: 10_000 }), /limit/);
    const tampered = Buffer.from(JSON.stringify({ q: 'x', p: { t: "'; DROP TABLE x; --", id: '1' } })).toString('base64url');
    await assert.rejects(herald.operations.search.search({}, { cursor: tampered }), /cursor/);
  });

  it('search queries use the indexes', async () => {
    // Enough rows that a sequential scan is not the cheapest plan, statistics up to date.
    await pool.query(
      `INSERT INTO "${context}".events (event_id, stream_id, stream_version, event_type, data, correlation_id, created_at)
       SELECT gen_random_uuid(), 'bulk-' || (g % 500), g / 500 + 1, 'Bulk' || (g % 20), '{}', 'c-' || g, now() - (g || ' seconds')::interval
         FROM generate_series(1, 20000) g`,
    );
    await pool.query(`ANALYZE "${context}".events`);
    const plan = async (query: object, cursor?: string) => {
      const { sql, values } = herald.operations.search.statement(query, cursor, 51);
      const { rows } = await pool.query(`EXPLAIN ${sql}`, values);
      return rows.map((r) => r['QUERY PLAN']).join('\n');
    };
    assert.match(await plan({ correlationId: 'c-42' }), /events_correlation_idx/);
    assert.match(await plan({ type: 'Bulk3' }), /events_type_created_idx/);
    assert.match(await plan({ type: 'Bulk3', since: new Date(Date.now() - 3_600_000) }), /events_type_created_idx/);
    assert.match(await plan({ since: new Date(Date.now() - 600_000), until: new Date() }), /events_created_idx/);
    assert.match(await plan({}), /events_created_idx/);
    assert.match(await plan({ streamId: 'bulk-7' }), /events_stream_version_key/);
    assert.match(await plan({ eventId: '0190a1b2-0000-7000-8000-000000000000' }), /events_pkey/);
    const page = await herald.operations.search.search({ type: 'Bulk3' }, { limit: 2 });
    assert.match(await plan({ type: 'Bulk3' }, page.nextCursor!), /events_type_created_idx/);
    for (const text of [await plan({ type: 'Bulk3' }), await plan({})]) assert.doesNotMatch(text, /Seq Scan on events/);
  });

  it('a journey shows each subscription and the delivery journal', async () => {
    const { eventIds } = await herald.append('journey-1', { type: 'Travelled', data: {} });
    const journey = await waitFor(async () => {
      const j = await herald.operations.journeys.journey(eventIds[0]!);
      return j?.subscriptions.find((s) => s.subscription === 'billing.charge')?.status === 'handled' ? j : undefined;
    }, { message: 'journey handled' });
    assert.equal(journey.sequenced, true);
    assert.equal(await herald.operations.journeys.journey(999_999_999), undefined);
    await assert.rejects(herald.operations.journeys.journey('1 OR 1=1'), InvalidArgumentError);
  });
});

describe('operations on consumer messages', () => {
  it('groups, lists in pages, and skips a frozen set of parked messages; a later one stays parked', async (t) => {
    const world = await noteTaker(t);
    await world.start({ onError: () => park('needs a person') });
    const herald = world.herald();
    const keys = [1, 2, 3].map((i) => world.send(`poison-${i}`, 1, `poison ${i}`));
    await waitFor(async () => (await world.messages('parked')).length === 3, { message: '3 messages parked' });
    const [group] = await herald.operations.failures.groups('messages');
    assert.equal(group?.owner, 'notes');
    assert.equal(group?.count, 3);
    const first = await herald.operations.failures.list('messages', { owner: 'notes', fingerprint: group!.fingerprint }, { limit: 2 });
    assert.equal(first.items.length, 2);
    const second = await herald.operations.failures.list('messages', { owner: 'notes', fingerprint: group!.fingerprint }, { limit: 2, cursor: first.nextCursor! });
    assert.deepEqual([...first.items, ...second.items].map((m) => m.key).sort(), [...keys].sort());
    assert.equal(second.nextCursor, null);

    const action = await herald.operations.bulk.freeze({ kind: 'skip', target: 'messages', filter: { owner: 'notes' }, reason: 'bad data', actor: 'alice' });
    assert.equal(action.total, 3);
    const late = world.send('poison-4', 1, 'poison 4');
    await waitFor(async () => (await world.row(late))?.status === 'parked', { message: 'the late message parked' });
    const ended = await herald.operations.bulk.run(action.id, { actor: 'alice' });
    assert.equal(ended.done, 3);
    for (const key of keys) assert.equal((await world.row(key))?.status, 'skipped');
    assert.equal((await world.row(late))?.status, 'parked', 'not frozen, not touched');
    const received = await herald.operations.journeys.received(world.source, keys[0]!);
    assert.deepEqual(received.map((r) => [r.consumer, r.status]), [['notes', 'skipped']]);
    const summary = await herald.operations.failures.consumers();
    assert.deepEqual(summary.map((c) => [c.consumer, c.source, c.parked]), [['notes', world.source, 1]]);
  });
});
