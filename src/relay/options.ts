import { ConfigError } from '../errors.js';
import type { ErrorAction, FailureContext } from '../handlers/policy.js';
import { park } from '../handlers/policy.js';
import { validateSubscriptionName } from '../sql/identifiers.js';
import type { StartFrom } from '../subscriptions/definition.js';
import type { Transport } from '../transports/transport.js';
import type { RelayMessage } from './page.js';

/** What the relay's `onRefused` policy decides about a message the broker refused for good. */
export type RefusalPolicy = (error: unknown, message: RelayMessage, failure: FailureContext) => ErrorAction | Promise<ErrorAction>;

/** How to relay a context's log to a broker. */
export interface RelayOptions {
  /** The broker adapter: `rabbitmq()`, `nats()` or `redis()` from `herald/transports/*`. */
  readonly transport: Transport;
  /** Durable name of the relay (its checkpoint and lease). Default `relay:<transport kind>`. */
  readonly name?: string;
  /**
   * Most messages in flight (published, not confirmed yet) at once. The relay hands the broker
   * pages of `window / pages` events and keeps up to `pages` of them in flight, so the broker's
   * pipeline stays full while earlier pages are being confirmed. Default 1000.
   */
  readonly window?: number;
  /** Pages the window is cut into. Default 4. */
  readonly pages?: number;
  /** A page whose confirms have not all arrived after this long fails (and is published again). Default 30 000 ms. */
  readonly confirmTimeoutMs?: number;
  /** Default `'origin'`: every event of the log is published. */
  readonly startFrom?: StartFrom;
  /**
   * Consumers expected to handle every event of this context. They are listed in delivery status
   * (and their unhandled events flagged) even before their first acknowledgement.
   */
  readonly expectedConsumers?: readonly string[];
  /** Collect consumers' delivery acknowledgements from the transport's `acks` channel. Default `true`. */
  readonly collectAcknowledgements?: boolean;
  /**
   * What to do with a message the broker refuses for good (larger than NATS `max_payload`, say):
   * the same answers as a subscription's `onError`. Default: park it (it shows in
   * `herald.parked` and status with the broker's error; an operator retries or skips it).
   * Transient failures (broker down, no confirm) are never given to it: the relay retries those
   * from its checkpoint with backoff.
   */
  readonly onRefused?: RefusalPolicy;
  /**
   * What a parked (or retry-scheduled) message holds back: `'stream'` (default) — the later events
   * of its stream wait behind it, so each stream reaches the broker in order; `'message'` — only
   * itself, its stream goes on (skip-and-continue; consumers hold what arrives after a gap).
   */
  readonly parking?: 'stream' | 'message';
}

/** A relay's options, checked, with every default filled in. */
export interface RelaySettings {
  readonly name: string;
  readonly transport: Transport;
  readonly window: number;
  readonly depth: number;
  readonly pageSize: number;
  readonly confirmTimeoutMs: number;
  readonly startFrom: StartFrom;
  readonly onRefused: RefusalPolicy;
  readonly parking: 'stream' | 'message';
}

/** Checks relay options; bad ones throw `ConfigError` naming the field. */
export function relaySettings(options: RelayOptions): RelaySettings {
  const { transport } = options ?? {};
  if (!transport || typeof transport.publish !== 'function') throw new ConfigError('relay: `transport` must be a Herald transport');
  const name = validateSubscriptionName(options.name ?? `relay:${transport.kind}`);
  const window = options.window ?? 1000;
  if (!Number.isSafeInteger(window) || window < 1 || window > 100_000) throw new ConfigError(`relay: window must be a whole number from 1 to 100000, got ${window}`);
  const pages = options.pages ?? 4;
  if (!Number.isSafeInteger(pages) || pages < 1 || pages > window) throw new ConfigError(`relay: pages must be a whole number from 1 to the window (${window}), got ${pages}`);
  const depth = Math.min(pages, transport.pagesInFlight ?? pages);
  const confirmTimeoutMs = options.confirmTimeoutMs ?? 30_000;
  if (!(typeof confirmTimeoutMs === 'number' && confirmTimeoutMs > 0)) throw new ConfigError(`relay: confirmTimeoutMs must be positive, got ${confirmTimeoutMs}`);
  if (options.onRefused !== undefined && typeof options.onRefused !== 'function') throw new ConfigError('relay: onRefused must be a function');
  const parking = options.parking ?? 'stream';
  if (parking !== 'stream' && parking !== 'message') throw new ConfigError(`relay: parking must be 'stream' or 'message', got ${JSON.stringify(parking)}`);
  return {
    name,
    transport,
    window,
    depth,
    pageSize: Math.ceil(window / depth),
    confirmTimeoutMs,
    startFrom: options.startFrom ?? 'origin',
    onRefused: options.onRefused ?? (() => park()),
    parking,
  };
}
