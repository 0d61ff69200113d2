import type pg from 'pg';
import type { ConsumerStatus } from '../consumers/definition.js';
import type { ConsumerDeliveryStatus, DeliveryOptions } from '../deliveries/journal.js';
import { ConfigError } from '../errors.js';
import type { EventDefinition } from '../events/define.js';
import type { RecordedEvent } from '../events/types.js';
import type { ErrorAction, FailureContext } from '../handlers/policy.js';
import type { InboxOptions } from '../inbox/inbox.js';
import type { OpenAppend } from '../log/open-appends.js';
import type { SequencerOptions } from '../log/sequencer.js';
import type { OutboxStatus } from '../outbox/source.js';
import type { RelayMessage } from '../relay/page.js';
import type { Logger } from '../runtime/logger.js';
import type { ControlEvents } from '../subscriptions/control.js';
import type { SubscriptionHealth, SubscriptionStatus } from '../subscriptions/definition.js';
import type { ReceivedEvent } from '../transports/cloudevents.js';

/** How long a strong append waits for its subscriptions, unless told otherwise. */
export const DEFAULT_CONSISTENCY_TIMEOUT_MS = 5000;

/** How to build a {@link Herald}. */
export interface HeraldOptions {
  /** A `pg` pool. Herald borrows connections per batch and keeps one for LISTEN while started. */
  readonly pool: pg.Pool;
  /**
   * The bounded context: the PostgreSQL schema that holds its log and subscriptions.
   * Lower-case letters, digits and `_`, at most 48 characters.
   */
  readonly context: string;
  /** Event definitions whose schemas validate appended payloads of their type. */
  readonly events?: readonly EventDefinition[];
  /** Run this log's sequencer in this process when started. Default `true`. */
  readonly sequencer?: boolean | SequencerOptions;
  /** Subscription lease time to live (takeover bound after a crash). Default 15 000 ms. */
  readonly leaseTtlMs?: number;
  /** Subscriptions poll the log this often when no notification arrives. Default 500 ms. */
  readonly pollMs?: number;
  /** A pino-compatible logger. Default: silent. */
  readonly logger?: Logger;
  /** This process's identity in leases. Default `host:pid:random`. */
  readonly processId?: string;
  /** Retention of the inbox's handled message ids. */
  readonly inbox?: InboxOptions;
  /** How delivery to other contexts' consumers is judged (when events are flagged). */
  readonly deliveries?: DeliveryOptions;
}

/**
 * What a Herald reports as it runs, for logs and metrics: `herald.on('eventParked', (e) => …)`.
 * Listeners run synchronously in the subscription's loop: keep them quick and do not throw.
 * Operators' controls (`subscriptionPaused`, `subscriptionResumed`, `subscriptionReset`; see
 * {@link ControlEvents}) are reported by the Herald whose `subscriptions` API was called.
 */
export interface HeraldEvents extends ControlEvents {
  /** A handler failed; `action` is what the error policy decided. */
  attemptFailed: { subscription: string; event: RecordedEvent; error: unknown; failure: FailureContext; action: ErrorAction };
  /** An event was parked for review; its stream waits behind it. */
  eventParked: { subscription: string; event: RecordedEvent; reason: string | null; fingerprint: string };
  /** An event was skipped, by the error policy or an operator. */
  eventSkipped: { subscription: string; event: RecordedEvent; reason: string; byOperator: boolean };
  /** A parked or scheduled event succeeded on retry. */
  parkedRetried: { subscription: string; event: RecordedEvent };
  /** A handler returned `ALREADY_SEEN`: the event counts as handled (reported once its batch committed). */
  eventAlreadySeen: { subscription: string; event: RecordedEvent };
  /** A subscription stopped because of a failure (policy `stop`, or `init()` failed). */
  subscriptionStopped: { subscription: string; reason: string };
  /** A consumer received an event it had already handled (a redelivery) and dropped it. */
  duplicateDropped: { consumer: string; eventId: string; eventNumber: number };
  /** A consumer parked a message: malformed, unknown type (when set to park), invalid payload, a handler failure, or a gap that did not close. */
  messageParked: { consumer: string; key: string; reason: string };
  /** A consumer's handler failed; `action` is what the error policy decided (stored before the broker ack). */
  messageAttemptFailed: { consumer: string; event: ReceivedEvent; error: unknown; failure: FailureContext; action: ErrorAction };
  /** A relay's broker refused a message for good; `action` is what `onRefused` decided (default: park). */
  messageRefused: { relay: string; message: RelayMessage; error: unknown; failure: FailureContext; action: ErrorAction };
  /** A consumer stopped in this process because its error policy said `stop`. */
  consumerStopped: { consumer: string; reason: string };
  /** This Herald stopped (`stop()` finished): integrations such as metrics detach from it. */
  stopped: { context: string };
}

/** The log's own figures and every subscription's, as {@link Herald.status} returns them. */
export interface LogStatus {
  readonly context: string;
  /** Last sequenced event number. */
  readonly head: number;
  /** Committed events not sequenced yet (normally 0 or a few in flight). */
  readonly unsequenced: number;
  /**
   * Sessions (any process) whose open transaction appended to this log, oldest first. Until they
   * end, their events stay invisible and other appends to their streams wait: one listed for long,
   * `idle in transaction`, is an application that forgot to commit.
   */
  readonly openAppends: readonly OpenAppend[];
  readonly subscriptions: readonly SubscriptionStatus[];
  /** Relays running in this process, with their health (unhealthy while the broker fails). */
  readonly relays: readonly ({ readonly name: string; readonly active: boolean } & SubscriptionHealth)[];
  /** Consumers of other contexts running in this process. */
  readonly consumers: readonly ConsumerStatus[];
  /** Relays of the application's own outbox tables registered in this process (`relayOutbox()`). */
  readonly outboxes: readonly OutboxStatus[];
  /** Per consumer of this context's events (known from acknowledgements or expected): handled, pending, flagged. */
  readonly deliveries: readonly ConsumerDeliveryStatus[];
}

export function buildRegistry(events: readonly EventDefinition[]): Map<string, EventDefinition> {
  const registry = new Map<string, EventDefinition>();
  for (const definition of events) {
    if (registry.has(definition.type) && registry.get(definition.type) !== definition) {
      throw new ConfigError(`two event definitions share the type '${definition.type}'`);
    }
    registry.set(definition.type, definition);
  }
  return registry;
}

export function validateStartFrom(name: string, from: unknown): void {
  if (from === undefined || from === 'origin' || from === 'current') return;
  if (typeof from === 'number' && Number.isSafeInteger(from) && from >= 0) return;
  throw new ConfigError(`subscription '${name}': startFrom must be 'origin', 'current' or a whole number ≥ 0, got ${JSON.stringify(from)}`);
}

export function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ConfigError(`${name} must be a positive number of milliseconds, got ${JSON.stringify(value)}`);
  }
  return value;
}
