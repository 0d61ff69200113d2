import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Telemetry, type TelemetryEvent } from './telemetry.js';

describe('Telemetry', () => {
  it('emits start and stop with the duration and the metadata the work completed', async () => {
    const telemetry = new Telemetry();
    const seen: TelemetryEvent[] = [];
    telemetry.on('relay:publish:start', (e) => seen.push(e));
    telemetry.on('relay:publish:stop', (e) => seen.push(e));
    const metadata = { context: 'orders', relay: 'relay:nats', messages: 3 };
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
});
