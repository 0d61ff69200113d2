import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TransportError } from '../errors.js';
import { isRefusal } from './refusals.js';

describe('isRefusal', () => {
  it('trusts a transport that marks the refusal', () => {
    assert.equal(isRefusal(new TransportError('nats', 'too big', { refused: true })), true);
  });

  it("recognises the brokers' clients' size limits in the error chain", () => {
    const cause = Object.assign(new Error("'payload' max_payload size exceeded"), { code: 'InvalidArgumentError' });
    assert.equal(isRefusal(new TransportError('nats', '1 of 1 messages not acknowledged', { cause })), true);
    assert.equal(isRefusal(new Error('message too large for queue')), true);
  });

  it('calls outages, timeouts and anything else transient', () => {
    assert.equal(isRefusal(new TransportError('rabbitmq', 'connection closed')), false);
    assert.equal(isRefusal(new TransportError('nats', 'no confirm for a page within 30000 ms')), false);
    assert.equal(isRefusal(undefined), false);
    assert.equal(isRefusal('boom'), false);
  });
});
