export { ParkedEvents, type ParkedEvent, type RetryOutcome } from './operator.js';
export { filterClause, type ParkedFilter } from './filter.js';
export type { ParkedStatus, AttemptRecord } from './store.js';
