/**
 * A saga's processing: one event (or fired timeout) moves one instance, under that instance's row
 * lock, in the transaction of the subscription (or consumer) that delivered it — so the state
 * change, the commands it appends, its timeouts and the delivery's checkpoint commit together.
 */
import { InvalidArgumentError, SagaUnmatchedError } from '../errors.js';
import { stamp } from '../domain/store.js';
import { defaultErrorPolicy, park } from '../handlers/policy.js';
import type { CustomMetadata, NewEvent } from '../events/types.js';
import type { AppendOptions, AppendResult } from '../log/append.js';
import type { SqlExecutor } from '../sql/executor.js';
import type { SubscriptionDefinition } from '../subscriptions/definition.js';
import { checkSaga, isTimeoutFired, type SagaContext, type SagaDefinition, type SagaEvent } from './definition.js';

/** The log a saga appends to (a Herald). */
export interface SagaLog {
  append(tx: SqlExecutor, streamId: string, events: NewEvent | readonly NewEvent[], options?: AppendOptions): Promise<AppendResult>;
}

interface InstanceRow {
  status: 'active' | 'completed' | 'compensated';
  state: unknown;
  steps: string[];
}

/** Timeouts to write when the handler is done: `null` cancels. */
type TimeoutChange = { dueAt: Date; data: CustomMetadata } | null;

export class Saga<State> {
  readonly name: string;

  constructor(
    readonly definition: SagaDefinition<State>,
    private readonly log: SagaLog,
    private readonly quotedSchema: string,
  ) {
    this.name = checkSaga(definition);
  }

  /** The subscription on the log that runs this saga (its own events and its fired timeouts). */
  subscription(): SubscriptionDefinition {
    return {
      name: `saga:${this.name}`,
      startFrom: this.definition.subscription?.startFrom,
      batchSize: this.definition.subscription?.batchSize,
      handlerTimeoutMs: this.definition.subscription?.handlerTimeoutMs,
      // An unmatched event will not match on a retry: it goes to a person at once.
      onError: (error, event, failure) =>
        error instanceof SagaUnmatchedError ? park(error.message) : (this.definition.subscription?.onError ?? defaultErrorPolicy())(error, event, failure),
      handle: (event, _meta, { tx }) => this.process(event, tx),
    };
  }

  /** Handlers for `consume()`, so events of other contexts move this saga too (in the consumer's transaction). */
  consumerHandlers(): Record<string, (event: SagaEvent, meta: unknown, context: { tx: SqlExecutor }) => Promise<void>> {
    return Object.fromEntries(Object.keys(this.definition.on).map((type) => [type, (event: SagaEvent, _meta: unknown, { tx }: { tx: SqlExecutor }) => this.process(event, tx)]));
  }

  /** Moves the instance `event` is for, if any. */
  async process(event: SagaEvent, tx: SqlExecutor): Promise<void> {
    if (isTimeoutFired(event)) {
      if (event.data.saga !== this.name) return;
      const onTimeout = this.definition.timeouts?.[event.data.name];
      if (!onTimeout) return;
      await this.move(tx, event, event.data.key, false, (state, context) => onTimeout(state, event.data.data, context));
      return;
    }
    const step = this.definition.on[event.type];
    if (!step) return;
    const key = step.key(event);
    if (key === undefined) return;
    if (typeof key !== 'string' || key.length === 0 || key.length > 500) throw new InvalidArgumentError('saga key', `saga '${this.name}' got ${JSON.stringify(key)} for ${event.type}; use a non-empty string of at most 500 characters`);
    await this.move(tx, event, key, step.starts === true, (state, context) => step.handle(state, event, context));
  }

  private async move(
    tx: SqlExecutor,
    event: SagaEvent,
    key: string,
    starts: boolean,
    run: (state: State, context: SagaContext) => State | void | Promise<State | void>,
  ): Promise<void> {
    let row = await this.lock(tx, key);
    if (!row && starts) {
      await tx.query(`INSERT INTO ${this.quotedSchema}.saga_instances (saga, key, state) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [this.name, key, JSON.stringify(this.definition.initialState())]);
      row = await this.lock(tx, key);
    }
    if (!row || row.status !== 'active') return this.unmatched(tx, event, key, row ? `instance is ${row.status}` : 'no instance');
    let state = row.state as State;
    const steps = [...row.steps];
    const timeouts = new Map<string, TimeoutChange>();
    let status: InstanceRow['status'] = 'active';
    let reason: string | null = null;
    const context: SagaContext = {
      tx,
      key,
      // What the saga emits was caused by the event it reacted to, in the same conversation.
      append: (streamId, events, options) =>
        this.log.append(tx, streamId, stamp(Array.isArray(events) ? events : [events as NewEvent], { causationId: event.metadata.eventId, correlationId: event.metadata.correlationId ?? event.metadata.eventId }), options),
      schedule: (name, after, data = {}) => {
        const dueAt = 'at' in after ? after.at : new Date(Date.now() + after.ms);
        if (Number.isNaN(dueAt.getTime())) throw new InvalidArgumentError('timeout', `saga '${this.name}': timeout '${name}' has no valid time`);
        timeouts.set(name, { dueAt, data });
      },
      cancel: (name) => void timeouts.set(name, null),
      done: (name) => void (steps.includes(name) || steps.push(name)),
      complete: () => void (status = 'completed'),
      compensate: async (why) => {
        for (const name of [...steps].reverse()) {
          const undo = this.definition.compensations?.[name];
          if (undo) state = ((await undo(state, context)) ?? state) as State;
        }
        status = 'compensated';
        reason = why;
      },
    };
    state = ((await run(state, context)) ?? state) as State;
    await this.store(tx, key, state, steps, status, reason, timeouts);
  }

  private async lock(tx: SqlExecutor, key: string): Promise<InstanceRow | undefined> {
    const { rows } = await tx.query<InstanceRow>(`SELECT status, state, steps FROM ${this.quotedSchema}.saga_instances WHERE saga = $1 AND key = $2 FOR UPDATE`, [this.name, key]);
    return rows[0];
  }

  private async store(tx: SqlExecutor, key: string, state: State, steps: string[], status: InstanceRow['status'], reason: string | null, timeouts: Map<string, TimeoutChange>): Promise<void> {
    const finished = status !== 'active';
    await tx.query(
      `UPDATE ${this.quotedSchema}.saga_instances SET state = $3, steps = $4, status = $5, reason = $6, version = version + 1, updated_at = now(),
              finished_at = CASE WHEN $5 <> 'active' THEN now() END
        WHERE saga = $1 AND key = $2`,
      [this.name, key, JSON.stringify(state), steps, status, reason],
    );
    // A finished instance has nothing left to wait for.
    if (finished) {
      await tx.query(`DELETE FROM ${this.quotedSchema}.saga_timeouts WHERE saga = $1 AND key = $2`, [this.name, key]);
      return;
    }
    for (const [name, change] of timeouts) {
      if (change === null) await tx.query(`DELETE FROM ${this.quotedSchema}.saga_timeouts WHERE saga = $1 AND key = $2 AND name = $3`, [this.name, key, name]);
      else {
        await tx.query(
          `INSERT INTO ${this.quotedSchema}.saga_timeouts (saga, key, name, due_at, data) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (saga, key, name) DO UPDATE SET due_at = excluded.due_at, data = excluded.data, created_at = now()`,
          [this.name, key, name, change.dueAt, JSON.stringify(change.data)],
        );
      }
    }
  }

  private async unmatched(tx: SqlExecutor, event: SagaEvent, key: string, reason: string): Promise<void> {
    const policy = this.definition.unmatched ?? 'record';
    if (isTimeoutFired(event) || policy === 'ignore') return;
    if (policy === 'park') throw new SagaUnmatchedError(this.name, event.type, key, reason);
    await tx.query(
      `INSERT INTO ${this.quotedSchema}.saga_unmatched (saga, event_number, event_id, event_type, key, reason) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
      [this.name, event.metadata.eventNumber, event.metadata.eventId, event.type, key, reason],
    );
  }
}

