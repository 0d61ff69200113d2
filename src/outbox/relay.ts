import type pg from 'pg';
import type { Logger } from '../runtime/logger.js';
import { Relay, type RelayHooks } from '../relay/relay.js';
import { Lease } from '../subscriptions/lease.js';
import { type OutboxRelayHandle, outboxHandle } from './handle.js';
import { type OutboxRelayOptions, outboxSettings } from './options.js';
import { OutboxSource } from './source.js';

/** What a Herald lends an outbox relay. */
export interface OutboxRelayDeps {
  readonly pool: pg.Pool;
  /** The context's quoted schema (checkpoint, lease, parked rows, versions). */
  readonly schema: string;
  readonly context: string;
  readonly processId: string;
  readonly leaseTtlMs: number;
  readonly channel: string;
  readonly logger: Logger;
  readonly hooks: RelayHooks;
}

/**
 * The relay's own loop (pages in flight, confirms, checkpoint, refusals and parking, lease) over
 * an application's outbox table instead of the log. Its checkpoint is a row id, stored with the
 * subscriptions' like any relay's.
 */
export function createOutboxRelay(options: OutboxRelayOptions, deps: OutboxRelayDeps): { relay: Relay; handle: OutboxRelayHandle } {
  const settings = outboxSettings(options, deps.context);
  const name = settings.relay.name;
  const source = new OutboxSource(deps.pool, deps.schema, settings, deps.processId);
  const lease = new Lease(deps.pool, `${deps.schema}.subscriptions`, name, deps.processId, deps.leaseTtlMs, deps.channel);
  const timing = { leaseTtlMs: deps.leaseTtlMs, pollMs: settings.pollMs };
  const relay = new Relay(deps.pool, deps.schema, settings.source, settings.relay, lease, timing, deps.logger, deps.hooks, source);
  return { relay, handle: outboxHandle(relay, source) };
}
