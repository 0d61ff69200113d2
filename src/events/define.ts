import { InvalidEventPayloadError, type PayloadIssue } from '../errors.js';
import type { StandardSchemaV1 } from './standard-schema.js';
import type { CustomMetadata, NewEvent, RecordedEvent } from './types.js';

/** Where `create()` leaves its definition on a new event, so append validates it even if unregistered. */
export const DEFINITION: unique symbol = Symbol('herald.eventDefinition');

/** The definition that created an event, if any. */
export function definitionOf(event: object): EventDefinition | undefined {
  return (event as { [DEFINITION]?: EventDefinition })[DEFINITION];
}

/** Options carried by one event into the log. */
export interface NewEventOptions {
  readonly eventId?: string;
  readonly causationId?: string;
  readonly correlationId?: string;
  readonly metadata?: CustomMetadata;
}

/** An event type with the schema its payload must satisfy. Made by {@link defineEvent}. */
export interface EventDefinition<Type extends string = string, Schema extends StandardSchemaV1 = StandardSchemaV1> {
  readonly type: Type;
  readonly schema: Schema;
  /** A new event of this type, ready to append. Validation happens at append time. */
  create(data: StandardSchemaV1.InferInput<Schema>, options?: NewEventOptions): NewEvent<Type, StandardSchemaV1.InferInput<Schema>>;
  /** Type guard: is this recorded event of this type? Narrows `event.data` (not re-validated). */
  is(event: { readonly type: string }): event is RecordedEvent<Type, StandardSchemaV1.InferOutput<Schema>>;
  /** Validates `data` against the schema; resolves to the schema's output or throws {@link InvalidEventPayloadError}. */
  validate(data: unknown): Promise<StandardSchemaV1.InferOutput<Schema>>;
}

/**
 * Defines an event type and its payload schema (zod, valibot, arktype: any Standard Schema).
 *
 * ```ts
 * const OrderPlaced = defineEvent('OrderPlaced', z.object({ orderId: z.string(), qty: z.number().int() }));
 * await herald.append(tx, 'order-1', [OrderPlaced.create({ orderId: '1', qty: 2 })]);
 * ```
 */
export function defineEvent<const Type extends string, Schema extends StandardSchemaV1>(
  type: Type,
  schema: Schema,
): EventDefinition<Type, Schema> {
  if (typeof type !== 'string' || type.length === 0 || type.length > 200) {
    throw new TypeError(`defineEvent: type must be a non-empty string of at most 200 characters, got ${JSON.stringify(type)}`);
  }
  if (!schema || typeof schema !== 'object' || !('~standard' in schema)) {
    throw new TypeError(`defineEvent('${type}'): schema must implement Standard Schema v1 (zod, valibot, arktype, …)`);
  }
  const definition: EventDefinition<Type, Schema> = {
    type,
    schema,
    create: (data, options = {}) => Object.defineProperty({ type, data, ...options }, DEFINITION, { value: definition }),
    is: (event): event is RecordedEvent<Type, StandardSchemaV1.InferOutput<Schema>> => event.type === type,
    validate: (data) => validatePayload(type, schema, data),
  };
  return Object.freeze(definition);
}

/** Runs a Standard Schema validator and turns its issues into an {@link InvalidEventPayloadError}. */
export async function validatePayload<Schema extends StandardSchemaV1>(
  type: string,
  schema: Schema,
  data: unknown,
): Promise<StandardSchemaV1.InferOutput<Schema>> {
  let result = schema['~standard'].validate(data);
  if (result instanceof Promise) result = await result;
  if (result.issues) throw new InvalidEventPayloadError(type, result.issues.map(toIssue));
  return result.value as StandardSchemaV1.InferOutput<Schema>;
}

function toIssue(issue: StandardSchemaV1.Issue): PayloadIssue {
  const path = (issue.path ?? [])
    .map((segment) => (typeof segment === 'object' && segment !== null ? segment.key : segment))
    .map((key, i) => (typeof key === 'number' ? `[${key}]` : `${i === 0 ? '' : '.'}${String(key)}`))
    .join('');
  return { path, message: issue.message };
}
