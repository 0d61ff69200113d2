/**
 * Typed errors. Every error Herald throws on purpose is a {@link HeraldError} with a stable
 * `code` from {@link ERROR_CODES}, so callers can branch on `err.code` (or `instanceof`) instead
 * of parsing messages. Each code is defined once, here (like Fastify's `lib/errors.js`).
 */

/** Every error code Herald uses, with what it means. */
export const ERROR_CODES = {
  HERALD_INVALID_EVENT_PAYLOAD: 'An event payload failed its schema; nothing was written.',
  HERALD_PAYLOAD_NOT_SERIALIZABLE: 'A payload holds a value that would not survive the JSON round trip; nothing was written.',
  HERALD_WRONG_EXPECTED_VERSION: 'The stream was not at the expected version; the transaction must roll back.',
  HERALD_DUPLICATE_EVENT_ID: 'An event with this id is already in the log.',
  HERALD_CONSISTENCY_TIMEOUT: 'Strong consistency was not reached in time; the events stay committed.',
  HERALD_CONSISTENCY_NEEDS_COMMIT: 'Strong consistency needs Herald to see the commit.',
  HERALD_INVALID_IDENTIFIER: 'A configured identifier (schema, subscription name, …) is not acceptable.',
  HERALD_CONFIG: 'A configuration value is missing or of the wrong shape.',
  HERALD_NOT_MIGRATED: "A context's schema is older than this Herald: run the migrations first.",
  HERALD_SAGA_UNMATCHED: "An event for a saga found no active instance and the saga's `unmatched` policy is 'park'.",
  HERALD_CONFIG_FILE: 'A config file could not be found, read, parsed or validated; nothing was started.',
  HERALD_SUBSCRIPTION_INIT_FAILED: "A subscription's init() failed; it did not start.",
  HERALD_DUPLICATE_SUBSCRIPTION: 'Two subscriptions (or consumers) with one name were registered.',
  HERALD_LEASE_LOST: "This process no longer holds the subscription's lease.",
  HERALD_INVALID_ARGUMENT: 'An argument passed to a Herald API is not acceptable.',
  HERALD_HANDLER_TIMEOUT: 'A handler did not settle within its timeout; its work was abandoned and rolled back.',
  HERALD_HANDLER_RESULT: 'A handler returned something other than undefined or ALREADY_SEEN.',
  HERALD_HANDLER_SQL: 'A handler went on after an SQL error in its transaction, leaving it aborted.',
  HERALD_INVALID_POLICY_ANSWER: 'An error policy answered something other than retry, skip, park or stop (or threw).',
  HERALD_NOT_PARKED: 'An operator action named an event or message that is not parked.',
  HERALD_PARKED_EVENT_BUSY: 'An operator action raced another one on the same parked event or message.',
  HERALD_TRANSPORT: 'A broker did not accept or confirm a message, or the connection to it failed.',
  HERALD_MALFORMED_MESSAGE: 'A received message is not a valid Herald CloudEvent.',
  HERALD_TRANSACTION_ENDED: 'A connection was used after its transaction ended.',
  HERALD_LOG_INCONSISTENT: "Herald's own tables disagree with the log (an event a row refers to is missing).",
  HERALD_SUBSCRIPTION_UNKNOWN: 'An operator action named a subscription this log does not know.',
  HERALD_METRICS_SERVER: 'The metrics HTTP server could not listen on its port (in use, or not permitted).',
  HERALD_OPERATOR_ACTION: 'A bulk operator action does not exist, or its state does not allow this (running a finished one, say).',
  HERALD_ADMIN_REQUEST: 'The admin panel refused a request: not signed in, not allowed, malformed, or too large.',
  HERALD_OUTBOX_TABLE_MISSING: "An outbox relay's table does not exist (or this role cannot see it).",
  HERALD_OUTBOX_COLUMN: "A column an outbox relay maps is missing, of a type it cannot relay, or of the wrong nullability.",
  HERALD_OUTBOX_SEQUENCE: "An outbox table's id column is not filled from a sequence the relay can rely on (none, cached, shared, cycling).",
  HERALD_OUTBOX_INDEX: 'An outbox table has no index to find undispatched rows by id.',
  HERALD_OUTBOX_TABLE: 'An outbox table has several problems; each is listed.',
} as const;

/** The literal union of Herald's error codes. */
export type HeraldErrorCode = keyof typeof ERROR_CODES;

export class HeraldError extends Error {
  /** Stable, machine-readable code, e.g. `HERALD_WRONG_EXPECTED_VERSION`. */
  readonly code: HeraldErrorCode;

  constructor(code: HeraldErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** One failed check reported by a Standard Schema validator. */
export interface PayloadIssue {
  /** Dotted path to the failing value, `''` for the root. */
  readonly path: string;
  readonly message: string;
}

/** An event payload failed its schema. Nothing was written. */
export class InvalidEventPayloadError extends HeraldError {
  constructor(
    readonly eventType: string,
    readonly issues: readonly PayloadIssue[],
  ) {
    const first = issues[0];
    const where = first ? ` at ${first.path === '' ? '(root)' : first.path}: ${first.message}` : '';
    const more = issues.length > 1 ? ` (+${issues.length - 1} more)` : '';
    super('HERALD_INVALID_EVENT_PAYLOAD', `Invalid payload for event '${eventType}'${where}${more}`);
  }
}

/** A payload holds a value that would not survive the JSON round trip unchanged. Nothing was written. */
export class PayloadNotSerializableError extends HeraldError {
  constructor(
    readonly eventType: string,
    readonly path: string,
    readonly reason: string,
  ) {
    super(
      'HERALD_PAYLOAD_NOT_SERIALIZABLE',
      `Payload of event '${eventType}' is not JSON-safe at ${path === '' ? '(root)' : path}: ${reason}`,
    );
  }
}

/** The stream was not at the expected version. The caller's transaction must roll back. */
export class WrongExpectedVersionError extends HeraldError {
  constructor(
    readonly streamId: string,
    readonly expected: string | number,
    readonly actual: number | undefined,
  ) {
    const actualText = actual === undefined ? 'changed concurrently' : actual === 0 ? 'does not exist' : `is at version ${actual}`;
    super(
      'HERALD_WRONG_EXPECTED_VERSION',
      `Stream '${streamId}' expected ${typeof expected === 'number' ? `version ${expected}` : `'${expected}'`} but ${actualText}`,
    );
  }
}

/** An event with this id is already in the log. */
export class DuplicateEventIdError extends HeraldError {
  constructor(readonly eventId: string) {
    super('HERALD_DUPLICATE_EVENT_ID', `An event with id '${eventId}' is already in the log`);
  }
}

/** Strong consistency was not reached in time. The events stay committed. */
export class ConsistencyTimeoutError extends HeraldError {
  constructor(
    readonly behind: readonly { name: string; position: number; state: string }[],
    readonly eventNumber: number | undefined,
    readonly timeoutMs: number,
  ) {
    const who = behind.map((b) => `${b.name} (at ${b.position}, ${b.state})`).join(', ');
    const target = eventNumber === undefined ? 'the appended events to be sequenced' : `event ${eventNumber}`;
    super(
      'HERALD_CONSISTENCY_TIMEOUT',
      `Strong consistency not reached within ${timeoutMs} ms waiting for ${target}` +
        (behind.length > 0 ? `; still behind: ${who}` : '') +
        '. The events are committed.',
    );
  }
}

/** Strong consistency needs to know when the transaction commits; Herald cannot see a caller-owned commit. */
export class ConsistencyOutsideTransactionError extends HeraldError {
  constructor() {
    super(
      'HERALD_CONSISTENCY_NEEDS_COMMIT',
      "consistency: 'strong' needs Herald to see the commit: append through herald.transaction(), " +
        'or append with the default consistency and call herald.waitForConsistency(result) after your commit',
    );
  }
}

/** A configured identifier (schema, subscription name, …) is not acceptable. */
export class InvalidIdentifierError extends HeraldError {
  constructor(
    readonly what: string,
    readonly value: unknown,
    readonly rule: string,
  ) {
    super('HERALD_INVALID_IDENTIFIER', `Invalid ${what} ${JSON.stringify(value)}: ${rule}`);
  }
}

/** A configuration value is missing or of the wrong shape. */
export class ConfigError extends HeraldError {
  constructor(message: string) {
    super('HERALD_CONFIG', message);
  }
}

/** A context's tables are missing or older than this version of Herald needs. */
export class NotMigratedError extends HeraldError {
  constructor(
    readonly context: string,
    readonly version: number,
    readonly needed: number,
  ) {
    super('HERALD_NOT_MIGRATED', `context '${context}' is at schema version ${version}, needs ${needed}: call herald.migrate() first (or run \`herald migrate\`)`);
  }
}

/** An event for a saga found no active instance (none started, or it finished) and the saga parks such events. */
export class SagaUnmatchedError extends HeraldError {
  constructor(
    readonly saga: string,
    readonly eventType: string,
    readonly key: string,
    readonly reason: string,
  ) {
    super('HERALD_SAGA_UNMATCHED', `saga '${saga}': ${eventType} for '${key}' has nowhere to go (${reason})`);
  }
}

/** A problem in a config file, with where it is. */
export interface ConfigFileIssue {
  /** `contexts[0].relays[1].transport.broker`; `''` for the file as a whole. */
  readonly path: string;
  readonly message: string;
  readonly line?: number;
  readonly column?: number;
}

/** A config file could not be found, read, parsed or validated. Lists every problem; nothing was started. */
export class ConfigFileError extends HeraldError {
  constructor(
    readonly file: string,
    readonly issues: readonly ConfigFileIssue[],
  ) {
    const lines = issues.map((i) => {
      const at = i.line !== undefined ? `${file}:${i.line}:${i.column ?? 1}: ` : '';
      return `  ${at}${i.path ? `${i.path}: ` : ''}${i.message}`;
    });
    super('HERALD_CONFIG_FILE', `${file}: ${issues.length === 1 ? 'a problem' : `${issues.length} problems`}\n${lines.join('\n')}`);
  }
}

/** A subscription's `init()` failed; the subscription did not start. */
export class SubscriptionInitError extends HeraldError {
  constructor(
    readonly subscription: string,
    cause: unknown,
  ) {
    super('HERALD_SUBSCRIPTION_INIT_FAILED', `Subscription '${subscription}' did not start: init() failed: ${describe(cause)}`, {
      cause,
    });
  }
}

/** Two subscriptions with one name were registered on the same log. */
export class DuplicateSubscriptionError extends HeraldError {
  constructor(readonly subscription: string) {
    super('HERALD_DUPLICATE_SUBSCRIPTION', `A subscription named '${subscription}' is already registered on this log`);
  }
}

/** The process no longer holds the subscription's lease (another process took over). */
export class LeaseLostError extends HeraldError {
  constructor(readonly subscription: string) {
    super('HERALD_LEASE_LOST', `Lease on subscription '${subscription}' was lost to another process`);
  }
}

/** Short text for an unknown thrown value. */
export function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}

/** An argument passed to a Herald API is not acceptable (empty stream id, malformed UUID, …). */
export class InvalidArgumentError extends HeraldError {
  constructor(
    readonly argument: string,
    message: string,
  ) {
    super('HERALD_INVALID_ARGUMENT', `Invalid ${argument}: ${message}`);
  }
}

/** A handler did not settle within its timeout; its transaction was rolled back. */
export class HandlerTimeoutError extends HeraldError {
  constructor(
    readonly subscription: string,
    readonly eventNumber: number,
    readonly timeoutMs: number,
  ) {
    super('HERALD_HANDLER_TIMEOUT', `Subscription '${subscription}': handler did not settle within ${timeoutMs} ms on event ${eventNumber}`);
  }
}

/** An operator action named an event that is not parked (never was, waits behind another, or is resolved). */
export class NotParkedError extends HeraldError {
  constructor(
    readonly subscription: string,
    readonly eventNumber: number,
    readonly status: string | undefined,
  ) {
    const why =
      status === undefined
        ? 'is not parked'
        : status === 'waiting'
          ? 'is not parked itself: it waits behind a failed event of its stream'
          : `is already resolved (${status})`;
    super('HERALD_NOT_PARKED', `Event ${eventNumber} of subscription '${subscription}' ${why}`);
  }
}

/** An operator action raced another one on the same parked event (a retry or skip is already in progress). */
export class ParkedEventBusyError extends HeraldError {
  constructor(
    readonly subscription: string,
    readonly eventNumber: number,
    readonly status: string,
  ) {
    const what = status === 'skip_requested' ? 'a skip was already requested' : 'it is already being retried';
    super('HERALD_PARKED_EVENT_BUSY', `Event ${eventNumber} of subscription '${subscription}': ${what}`);
  }
}

/** A broker did not accept or confirm a message, or the connection to it failed. Nothing is lost: the relay publishes again. */
export class TransportError extends HeraldError {
  /**
   * The broker refused this message for good (too large, say): publishing it again cannot help.
   * The relay parks such a message instead of retrying it forever.
   */
  readonly refused: boolean;

  constructor(
    readonly transport: string,
    message: string,
    options?: { cause?: unknown; refused?: boolean },
  ) {
    super('HERALD_TRANSPORT', `${transport}: ${message}`, options);
    this.refused = options?.refused ?? false;
  }
}

/** A received message is not a valid Herald CloudEvent (not JSON, missing attribute, unknown type, invalid payload). It is parked with this reason. */
export class MalformedMessageError extends HeraldError {
  constructor(
    readonly reason: string,
    readonly eventType?: string,
  ) {
    super('HERALD_MALFORMED_MESSAGE', `Malformed message: ${reason}`);
  }
}

/** A handler returned a value: only `undefined` (handled) or `ALREADY_SEEN` mean success. Treated as a failure. */
export class HandlerResultError extends HeraldError {
  constructor(readonly returned: unknown) {
    super('HERALD_HANDLER_RESULT', `Handler returned ${preview(returned)}; return nothing (handled) or ALREADY_SEEN, and throw to fail`);
  }
}

/** An error policy threw, or answered something that is not retry, skip, park or stop. The event or message is parked with this reason. */
export class InvalidPolicyAnswerError extends HeraldError {
  constructor(
    readonly answer: unknown,
    readonly thrown: boolean,
  ) {
    super(
      'HERALD_INVALID_POLICY_ANSWER',
      thrown ? `The error policy threw: ${describe(answer)}` : `The error policy answered ${preview(answer)}; use retry(), skip(), park() or stop()`,
    );
  }
}

/** A connection was used after its transaction ended (a handler kept `tx` and used it later). */
export class TransactionEndedError extends HeraldError {
  constructor() {
    super('HERALD_TRANSACTION_ENDED', 'This transaction has ended: its connection can no longer be used (do not keep `tx` past the handler)');
  }
}

/** A row of Herald's own tables refers to an event the log does not have. */
export class LogInconsistentError extends HeraldError {
  constructor(message: string) {
    super('HERALD_LOG_INCONSISTENT', message);
  }
}

/** An operator action named a subscription that this log has never run. */
export class UnknownSubscriptionError extends HeraldError {
  constructor(readonly subscription: string) {
    super('HERALD_SUBSCRIPTION_UNKNOWN', `No subscription named '${subscription}' on this log`);
  }
}

function preview(value: unknown): string {
  if (value instanceof Error) return `an Error (${value.name}: ${value.message})`;
  const text = describe(value);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** An operator action named a consumer message that is not parked (never was, is held, or is resolved). */
export class ConsumerMessageNotParkedError extends HeraldError {
  constructor(
    readonly consumer: string,
    readonly key: string,
    readonly status: string | undefined,
  ) {
    super('HERALD_NOT_PARKED', `Message '${key}' of consumer '${consumer}' ${status === undefined ? 'does not exist' : `is ${status}, not parked`}`);
  }
}

/** An operator action raced another one on the same consumer message (a retry or skip is already requested). */
export class ConsumerMessageBusyError extends HeraldError {
  constructor(
    readonly consumer: string,
    readonly key: string,
    readonly status: string,
  ) {
    super('HERALD_PARKED_EVENT_BUSY', `Message '${key}' of consumer '${consumer}': ${status === 'skip_requested' ? 'a skip was already requested' : 'a retry was already requested'}`);
  }
}

/** A handler caught an SQL error and went on: its transaction was left aborted and cannot commit. Treated as the handler's failure. */
export class HandlerSqlError extends HeraldError {
  constructor(readonly detail: string) {
    super('HERALD_HANDLER_SQL', `A handler went on after an SQL error in its transaction (it is aborted and cannot commit): ${detail}`);
  }
}

/** `serveMetrics` could not listen: the port is in use, or binding it is not permitted. */
export class MetricsServerError extends HeraldError {
  constructor(
    readonly address: string,
    cause: unknown,
  ) {
    super('HERALD_METRICS_SERVER', `The metrics server could not listen on ${address}: ${describe(cause)}`, { cause });
  }
}

/** A bulk operator action does not exist, or its state does not allow what was asked (running a finished one, say). */
export class OperatorActionError extends HeraldError {
  constructor(
    readonly actionId: number,
    message: string,
    /** `unknown`: no such action; `state`: it exists but cannot do this now. */
    readonly reason: 'unknown' | 'state',
  ) {
    super('HERALD_OPERATOR_ACTION', `Operator action ${actionId}: ${message}`);
  }
}

/** The admin panel refused a request; `status` is the HTTP status it answers with. */
export class AdminRequestError extends HeraldError {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 405 | 409 | 413 | 415 | 429,
    message: string,
    /** The request field at fault, when there is one. */
    readonly field?: string,
  ) {
    super('HERALD_ADMIN_REQUEST', message);
  }
}

/** Names `schema.table` of an outbox table in messages. */
function outboxName(table: string): string {
  return `outbox table ${table}`;
}

/** An outbox relay's table does not exist, or the relay's role cannot see it. */
export class OutboxTableMissingError extends HeraldError {
  constructor(
    readonly table: string,
    detail = 'does not exist (or this role may not see it)',
  ) {
    super('HERALD_OUTBOX_TABLE_MISSING', `${outboxName(table)} ${detail}`);
  }
}

/** A mapped column is missing, of a type the relay cannot use, or nullable where it must not be (and the reverse). */
export class OutboxColumnError extends HeraldError {
  constructor(
    readonly table: string,
    /** Herald's field (`id`, `aggregateId`, `type`, …). */
    readonly field: string,
    readonly column: string,
    readonly problem: 'missing' | 'type' | 'nullable' | 'not-nullable',
    detail: string,
  ) {
    super('HERALD_OUTBOX_COLUMN', `${outboxName(table)}: column ${JSON.stringify(column)} (${field}) ${detail}`);
  }
}

/** The id column is not filled from a sequence the relay can rely on for its order. */
export class OutboxSequenceError extends HeraldError {
  constructor(
    readonly table: string,
    readonly column: string,
    readonly sequence: string | null,
    readonly problem: 'missing' | 'cached' | 'shared' | 'cycle' | 'increment' | 'went-back',
    detail: string,
  ) {
    super('HERALD_OUTBOX_SEQUENCE', `${outboxName(table)}: ${detail}`);
  }
}

/** No index lets the relay find undispatched rows by id. */
export class OutboxIndexError extends HeraldError {
  constructor(
    readonly table: string,
    detail: string,
  ) {
    super('HERALD_OUTBOX_INDEX', `${outboxName(table)}: ${detail}`);
  }
}

/** Several problems with one outbox table: `problems` holds each typed error. */
export class OutboxTableError extends HeraldError {
  constructor(
    readonly table: string,
    readonly problems: readonly HeraldError[],
  ) {
    super('HERALD_OUTBOX_TABLE', `${outboxName(table)} cannot be relayed: ${problems.length} problems\n${problems.map((p) => `  ${p.code}: ${p.message}`).join('\n')}`);
  }
}
