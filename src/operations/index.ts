export { Operations, type OperationsParts } from './operations.js';
export { AuditLog, type AuditEntry, type AuditRecord } from './audit.js';
export { BulkActions, type ActionKind, type ActionMember, type ActionStatus, type OperatorAction, type RunOptions } from './bulk.js';
export { FailureViews, type ConsumerSummary, type FailureGroup, type FailurePage } from './failures.js';
export { EventSearch, validateSearchQuery, type SearchHit, type SearchPage, type SearchQuery } from './search.js';
export { Journeys, eventRef, type Journey, type ReceivedStep, type SubscriptionStep } from './journey.js';
export { validateFilter, validateTarget, storedFilter, type FailureFilter, type FailureTarget, type StoredFilter } from './filter.js';
export { decodeCursor, encodeCursor, MAX_CURSOR_LENGTH } from './cursor.js';
