import { ConfigError } from '../errors.js';
import type { CustomMetadata, NewEvent, RecordedEvent } from '../events/types.js';
import type { ErrorPolicy } from '../handlers/policy.js';
import type { AppendOptions, AppendResult } from '../log/append.js';
import type { SqlExecutor } from '../sql/executor.js';
import { validateSubscriptionName } from '../sql/identifiers.js';

/** An event as a saga receives it: from its own log, or (through a consumer) from another context. */
export interface SagaEvent {
  readonly type: string;
  readonly data: unknown;
  readonly metadata: { readonly eventId: string; readonly eventNumber: number; readonly streamId: string; readonly correlationId: string | null; readonly custom?: CustomMetadata };
}

/** What a saga's handler can do, all in the transaction that also stores the instance's new state. */
export interface SagaContext {
  readonly tx: SqlExecutor;
  /** The instance's correlation key. */
  readonly key: string;
  /** Appends commands or events to this context's log (the same transaction). */
  append(streamId: string, events: NewEvent | readonly NewEvent[], options?: AppendOptions): Promise<AppendResult>;
  /** Schedules (or moves) the timeout `name`; it fires once, after restarts too, unless cancelled first. */
  schedule(name: string, after: { readonly ms: number } | { readonly at: Date }, data?: CustomMetadata): void;
  /** Cancels the timeout `name`, if scheduled. */
  cancel(name: string): void;
  /** Marks a step done: compensating runs the compensations of done steps, latest first. */
  done(step: string): void;
  /** Runs the compensations of the done steps (latest first) and ends the instance as compensated. */
  compensate(reason: string): Promise<void>;
  /** Ends the instance: completed; its pending timeouts are cancelled. */
  complete(): void;
}

/** How an event of one type reaches its instance, and what it does there. */
export interface SagaStep<State> {
  /** The instance's key in this event (its correlation id, an order id…); `undefined`: not for this saga. */
  key(event: SagaEvent): string | undefined;
  /** Starts a new instance when none exists for the key. Default false. */
  readonly starts?: boolean;
  /** Returns the new state (or changes `state` in place and returns nothing). */
  handle(state: State, event: SagaEvent, context: SagaContext): State | void | Promise<State | void>;
}

/** A saga (process manager): durable state per key, moved by events, emitting through the log. */
export interface SagaDefinition<State> {
  /** Stable: its subscription is `saga:<name>`, its rows carry it. */
  readonly name: string;
  readonly initialState: () => State;
  /** By event type. */
  readonly on: Readonly<Record<string, SagaStep<State>>>;
  /** By timeout name: what happens when one fires. */
  readonly timeouts?: Readonly<Record<string, (state: State, data: CustomMetadata, context: SagaContext) => State | void | Promise<State | void>>>;
  /** By step name: how to undo it, when the saga compensates. */
  readonly compensations?: Readonly<Record<string, (state: State, context: SagaContext) => State | void | Promise<State | void>>>;
  /**
   * An event for this saga with no instance to go to (none started, or finished): `'record'`
   * (default) stores it in `saga_unmatched`, visible in `sagas.unmatched()`; `'ignore'` drops it;
   * `'park'` fails it, so the subscription's error policy parks it for a person.
   */
  readonly unmatched?: 'record' | 'ignore' | 'park';
  /** Options of the saga's subscription on the log (batch size, error policy, …). */
  readonly subscription?: { readonly batchSize?: number; readonly handlerTimeoutMs?: number; readonly startFrom?: 'origin' | 'current'; readonly onError?: ErrorPolicy };
}

/** The type of the event a saga's timeout becomes in the log. */
export const TIMEOUT_EVENT = 'HeraldSagaTimeoutFired';

/** The stream the timeouts of a saga are appended to. */
export function timeoutStream(saga: string): string {
  return `saga-timeouts:${saga}`;
}

export interface TimeoutFired {
  readonly saga: string;
  readonly key: string;
  readonly name: string;
  readonly data: CustomMetadata;
}

export function isTimeoutFired(event: RecordedEvent | SagaEvent): event is SagaEvent & { data: TimeoutFired } {
  return event.type === TIMEOUT_EVENT;
}

/** Checks a definition; a bad one throws `ConfigError` naming the saga and the field. */
export function checkSaga<State>(definition: SagaDefinition<State>): string {
  const name = validateSubscriptionName(definition?.name);
  const fail = (message: string): never => {
    throw new ConfigError(`saga '${name}': ${message}`);
  };
  if (typeof definition.initialState !== 'function') fail('initialState must be a function returning a fresh state');
  if (!definition.on || typeof definition.on !== 'object' || Object.keys(definition.on).length === 0) fail('on must map event types to steps');
  for (const [type, step] of Object.entries(definition.on)) {
    if (typeof step?.key !== 'function' || typeof step.handle !== 'function') fail(`on.${type} needs key(event) and handle(state, event, context)`);
  }
  if (!Object.values(definition.on).some((step) => step.starts)) fail('no step starts an instance (set starts: true on one)');
  for (const group of ['timeouts', 'compensations'] as const) {
    for (const [k, fn] of Object.entries(definition[group] ?? {})) if (typeof fn !== 'function') fail(`${group}.${k} must be a function`);
  }
  if (definition.unmatched !== undefined && !['record', 'ignore', 'park'].includes(definition.unmatched)) fail("unmatched must be 'record', 'ignore' or 'park'");
  return name;
}
