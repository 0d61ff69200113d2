import { TransportError } from '../errors.js';
import type { RecordedEvent } from '../events/types.js';
import type { RelayMessage } from './page.js';

/**
 * Whether a publish failed because the broker refuses the message itself, for good — as opposed
 * to the broker being down or slow, which publishing again later cures. A transport says so with
 * `TransportError.refused`; known refusals of the brokers' clients are recognised in the error
 * chain too (NATS `max_payload`, a message over the broker's size limit).
 */
export function isRefusal(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 5; current = (current as { cause?: unknown }).cause, depth++) {
    if (current instanceof TransportError && current.refused) return true;
    const text = `${(current as { code?: unknown }).code ?? ''} ${(current as { message?: unknown }).message ?? ''}`;
    if (/max[_ ]?payload|payload too large|message too large|exceeds? (the )?max(imum)? (message )?size/i.test(text)) return true;
  }
  return false;
}

/** A relay message in the shape the parking table stores (the relay never parses payloads). */
export function asParkable(message: RelayMessage): RecordedEvent {
  return {
    type: message.type,
    data: null,
    metadata: {
      eventId: message.id,
      eventNumber: message.number,
      streamId: message.key,
      streamVersion: message.version,
      causationId: null,
      correlationId: null,
      createdAt: message.createdAt,
      custom: {},
    },
  };
}
