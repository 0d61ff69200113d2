import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Telemetry, type TelemetryEvent } from './telemetry.js';

describe('Telemetry', () => {
  it('emits start and stop with the duration and the metadata the work completed', async () => {
    const telemetry = new Telemetry();
    const seen: TelemetryEvent[] = [];
    telemetry.on('relay:publish:start', (e) => seen.push(e));
    telemetry.on('relay:publish:stop', (e) => seen.push(e));
    const metadata = { context: 'orders', relay: 'relay:nats', messages: 3, items: [] };
    const result = await telemetry.span('relay:publish', metadata, async () => 42);
    assert.equal(result, 42);
    assert.deepEqual(seen.map((e) => e.name), ['relay:publish:start', 'relay:publish:stop']);
    assert.equal(seen[0]!.durationMs, undefined);
    assert.ok(typeof seen[1]!.durationMs === 'number' && seen[1]!.durationMs >= 0);
    assert.equal(seen[1]!.metadata, metadata);
  });

  it('emits exception with the error and rethrows it', async () => {
    const telemetry = new Telemetry();
    const errors: unknown[] = [];
    telemetry.on('subscription:batch:exception', (e) => errors.push(e.error));
    const boom = new Error('boom');
    await assert.rejects(telemetry.span('subscription:batch', { context: 'c', subscription: 's', events: 1, from: 0 }, async () => Promise.reject(boom)), boom);
    assert.deepEqual(errors, [boom]);
  });

  it('a listener that throws breaks nothing; an unsubscribed one hears nothing', async () => {
    const telemetry = new Telemetry();
    let heard = 0;
    telemetry.on('log:sequence:stop', () => {
      throw new Error('bad listener');
    });
    const off = telemetry.on('log:sequence:stop', () => heard++);
    await telemetry.span('log:sequence', { context: 'c' }, async () => undefined);
    off();
    await telemetry.span('log:sequence', { context: 'c' }, async () => undefined);
    assert.equal(heard, 1);
  });

  it('runs the work inside its wrappers, the first registered outermost; removed ones are gone', async () => {
    const telemetry = new Telemetry();
    const trail: string[] = [];
    const outer = telemetry.wrap('log:append', async (metadata, work) => {
      trail.push(`outer ${metadata.streamId}`);
      const result = await work();
      trail.push('outer done');
      return result;
    });
    telemetry.wrap('log:append', async (_metadata, work) => {
      trail.push('inner');
      return work();
    });
    const append = { context: 'c', streamId: 's-1', events: 1 };
    assert.equal(await telemetry.span('log:append', append, async () => (trail.push('work'), 7)), 7);
    assert.deepEqual(trail, ['outer s-1', 'inner', 'work', 'outer done']);
    outer();
    outer();
    trail.length = 0;
    await telemetry.span('log:append', append, async () => trail.push('work'));
    assert.deepEqual(trail, ['inner', 'work']);
  });

  it('a wrapper that fails runs the work bare before it started, and keeps its outcome after', async () => {
    const telemetry = new Telemetry();
    let runs = 0;
    const remove = telemetry.wrap('log:append', async () => {
      throw new Error('broken wrapper');
    });
    const append = { context: 'c', streamId: 's', events: 1 };
    assert.equal(await telemetry.span('log:append', append, async () => ++runs), 1);
    remove();
    telemetry.wrap('log:append', async (_m, work) => {
      await work();
      await work(); // a second call does not run the work again
      throw new Error('broken after');
    });
    assert.equal(await telemetry.span('log:append', append, async () => ++runs), 2);
    assert.equal(runs, 2);
    const boom = new Error('work failed');
    await assert.rejects(telemetry.span('log:append', append, async () => Promise.reject(boom)), boom);
  });

  it('an unobserved span runs its work bare; observing it again emits again', async () => {
    const telemetry = new Telemetry();
    const metadata = { context: 'c', subscription: 's', events: 1, from: 0 };
    let heard = 0;
    const off = telemetry.on('subscription:batch:stop', () => heard++);
    off();
    const work = async () => 'done';
    const promise = telemetry.span('subscription:batch', metadata, work);
    assert.equal(await promise, 'done');
    assert.equal(heard, 0);
    telemetry.on('subscription:batch:stop', () => heard++);
    await telemetry.span('subscription:batch', metadata, work);
    assert.equal(heard, 1);
  });

  it('enriches append options under their own metadata; the same object when nobody enriches', () => {
    const telemetry = new Telemetry();
    const append = { context: 'c', streamId: 's', events: 2 };
    const options = { metadata: { tenant: 'own' } };
    assert.equal(telemetry.enrich(options, append), options);
    const remove = telemetry.enrichMetadata((a) => ({ tenant: 'enriched', stream: a.streamId }));
    telemetry.enrichMetadata(() => {
      throw new Error('ignored');
    });
    const none: { metadata?: Record<string, string> } = {};
    assert.deepEqual(telemetry.enrich(options, append).metadata, { tenant: 'own', stream: 's' });
    assert.deepEqual(telemetry.enrich(none, append).metadata, { tenant: 'enriched', stream: 's' });
    remove();
    assert.deepEqual(telemetry.enrich(none, append).metadata, {});
  });
});
