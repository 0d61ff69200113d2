export { AggregateRoot, type AnyEvent } from './aggregate.js';
export { type Decider, fold, decideAll } from './decider.js';
export { retryOnConflict, type RetryOnConflictOptions } from './conflicts.js';
export { type EventStore, type CommandContext, stamp } from './store.js';
export {
  AggregateRepository,
  DeciderRepository,
  aggregateRepository,
  deciderRepository,
  type StateStore,
  type Executed,
  type RepositoryRunOptions,
  type StreamOf,
} from './repository.js';
