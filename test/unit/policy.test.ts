import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError, type RecordedEvent } from '../../src/index.js';
import { backoffDelay, defaultErrorPolicy, firstAppFrame, fingerprint, summarizeError } from '../../src/handlers/policy.js';
import { filterClause } from '../../src/parking/filter.js';

const event = { type: 'OrderPlaced', data: {}, metadata: {} } as unknown as RecordedEvent;
const failure = (attempt: number, eventAgeMs = 0) => ({
  attempt,
  firstFailedAt: new Date(),
  lastFailedAt: new Date(),
  eventAgeMs,
  context: { kept: true },
});

describe('backoff', () => {
  it('doubles per attempt within [ceiling/2, ceiling], capped', () => {
    const options = { baseDelayMs: 100, maxDelayMs: 1000 };
    assert.equal(backoffDelay(1, options, () => 0), 50);
    assert.equal(backoffDelay(1, options, () => 1), 100);
    assert.equal(backoffDelay(3, options, () => 1), 400);
    assert.equal(backoffDelay(10, options, () => 1), 1000);
    assert.equal(backoffDelay(10, options, () => 0), 500);
  });
});

describe('default error policy', () => {
  const policy = defaultErrorPolicy({ maxAttempts: 3, baseDelayMs: 100, maxEventAgeMs: 60_000 });
  it('retries with a delay and keeps the context while attempts remain', async () => {
    const action = await policy(new Error('x'), event, failure(1));
    assert.equal(action.action, 'retry');
    if (action.action === 'retry') {
      assert.ok(action.delayMs >= 50 && action.delayMs <= 100);
      assert.deepEqual(action.context, { kept: true });
    }
  });
  it('parks after the last attempt', async () => {
    assert.deepEqual(await policy(new Error('x'), event, failure(3)), { action: 'park', reason: 'failed 3 times' });
  });
  it('parks an event older than the age limit at its first failure', async () => {
    const action = await policy(new Error('x'), event, failure(1, 60_001));
    assert.equal(action.action, 'park');
  });
});

describe('fingerprint', () => {
  const stack = (file: string, line: number) =>
    `TypeError: boom\n    at handle (${file}:${line}:7)\n    at processTicksAndRejections (node:internal/process/task_queues:95:5)`;
  it('is stable across line numbers, and differs by error type, frame and event type', () => {
    const a = summarizeError(Object.assign(new TypeError('boom'), { stack: stack('/app/billing.ts', 10) }));
    const moved = summarizeError(Object.assign(new TypeError('other message'), { stack: stack('/app/billing.ts', 99) }));
    const elsewhere = summarizeError(Object.assign(new TypeError('boom'), { stack: stack('/app/shipping.ts', 10) }));
    const range = summarizeError(Object.assign(new RangeError('boom'), { stack: stack('/app/billing.ts', 10) }));
    assert.equal(fingerprint(a, 'OrderPlaced'), fingerprint(moved, 'OrderPlaced'));
    assert.notEqual(fingerprint(a, 'OrderPlaced'), fingerprint(elsewhere, 'OrderPlaced'));
    assert.notEqual(fingerprint(a, 'OrderPlaced'), fingerprint(range, 'OrderPlaced'));
    assert.notEqual(fingerprint(a, 'OrderPlaced'), fingerprint(a, 'OrderShipped'));
  });
  it('skips node internals, node_modules and Herald’s own frames', () => {
    const trace = [
      'Error: x',
      '    at run (/srv/node_modules/pg/lib/client.js:1:1)',
      '    at invoke (/srv/herald/src/subscriptions/runner.ts:2:2)',
      '    at handle (/srv/app/projector.ts:12:3)',
    ].join('\n');
    assert.equal(firstAppFrame(trace, '/srv/herald/src/'), 'handle (/srv/app/projector.ts');
  });
  it('summarizes thrown non-errors', () => {
    assert.deepEqual(summarizeError('plain'), { type: 'string', message: 'plain', stack: null });
    assert.deepEqual(summarizeError({ code: 7 }), { type: 'object', message: '{"code":7}', stack: null });
  });
});

describe('parked filter', () => {
  it('builds a parameterised WHERE clause', () => {
    const since = new Date('2026-01-01T00:00:00Z');
    const { sql, values } = filterClause({ subscription: 's', eventType: 'T', fingerprint: 'f', since }, 3);
    assert.equal(sql, 'subscription = $3 AND event_type = $4 AND fingerprint = $5 AND status = ANY($6) AND parked_at >= $7');
    assert.deepEqual(values, ['s', 'T', 'f', ['scheduled', 'parked', 'retry_requested', 'skip_requested', 'retrying'], since]);
  });
  it('never splices values into SQL', () => {
    const { sql } = filterClause({ streamId: "x' OR 1=1 --" });
    assert.ok(!sql.includes('OR 1=1'));
  });
  it('rejects unknown statuses and bad dates', () => {
    assert.throws(() => filterClause({ status: 'gone' as never }), InvalidArgumentError);
    assert.throws(() => filterClause({ since: new Date('nope') }), InvalidArgumentError);
    assert.throws(() => filterClause({ subscription: '' }), InvalidArgumentError);
  });
});
