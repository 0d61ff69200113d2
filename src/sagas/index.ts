import type { Herald } from '../herald.js';
import { type Logger, silentLogger } from '../runtime/logger.js';
import { quoteIdent } from '../sql/identifiers.js';
import { SagaInspector } from './inspect.js';
import { Saga } from './saga.js';
import { TimeoutScheduler } from './scheduler.js';
import type { SagaDefinition } from './definition.js';

export type { SagaDefinition, SagaStep, SagaContext, SagaEvent, TimeoutFired } from './definition.js';
export { TIMEOUT_EVENT, timeoutStream } from './definition.js';
export { Saga } from './saga.js';
export { SagaInspector, SAGA_STATUSES, type SagaInstance, type SagaStatus, type UnmatchedSagaEvent } from './inspect.js';

/** A saga registered on a log: its processing, and what operators can see of it. */
export interface RegisteredSaga<State> {
  readonly saga: Saga<State>;
  /** Instances, their pending timeouts, unmatched events. */
  readonly inspect: SagaInspector;
  /** Handlers for `consume()`, so events from other contexts move it too. */
  consumerHandlers(): ReturnType<Saga<State>['consumerHandlers']>;
}

/**
 * Registers a saga (process manager) on `herald`: a subscription `saga:<name>` runs it on the log
 * (its own events and its fired timeouts), and a timeout scheduler runs with the log. Register it
 * in every process that may run it; one holds the subscription, all share the timeouts.
 */
export function registerSaga<State>(herald: Herald, definition: SagaDefinition<State>, options: { timeoutPollMs?: number; logger?: Logger } = {}): RegisteredSaga<State> {
  const schema = quoteIdent(herald.context);
  const saga = new Saga(definition, herald, schema);
  herald.subscribe(saga.subscription());
  herald.attach(new TimeoutScheduler(herald.pool, schema, herald, [saga.name], options.logger ?? silentLogger, options.timeoutPollMs));
  return { saga, inspect: new SagaInspector(herald.pool, schema), consumerHandlers: () => saga.consumerHandlers() };
}
