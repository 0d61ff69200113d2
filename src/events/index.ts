export { defineEvent, validatePayload, type EventDefinition, type NewEventOptions } from './define.js';
export { toJsonValue, type JsonValue, type JsonProblem } from './json.js';
export type { StandardSchemaV1 } from './standard-schema.js';
export type { NewEvent, RecordedEvent, EventMetadata, CustomMetadata } from './types.js';
