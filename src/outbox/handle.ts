import type { Relay, RelayHandle } from '../relay/relay.js';
import type { OutboxSource, OutboxStatus } from './source.js';

/** What `herald.relayOutbox()` returns: the relay's name and health, and the outbox's own figures. */
export interface OutboxRelayHandle extends RelayHandle {
  /** `schema.table`. */
  readonly table: string;
  /** Watermark, undispatched rows, and the sessions the watermark waits for (see {@link OutboxStatus}). */
  status(): Promise<OutboxStatus>;
}

export function outboxHandle(relay: Relay, source: OutboxSource): OutboxRelayHandle {
  return {
    name: relay.name,
    table: source.settings.display,
    health: () => relay.health(),
    status: () => source.status(relay.name, relay.active),
  };
}
