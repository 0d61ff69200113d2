/**
 * Repositories: load a stream's state, run the domain logic, and save the state change and the new
 * events in one transaction with optimistic concurrency (the stream must still be at the version
 * it was loaded at, else `WrongExpectedVersionError`; `update`/`execute` load and decide again).
 */
import type pg from 'pg';
import { InvalidArgumentError } from '../errors.js';
import type { NewEvent, RecordedEvent } from '../events/types.js';
import type { AppendResult } from '../log/append.js';
import type { SqlExecutor } from '../sql/executor.js';
import type { AggregateRoot } from './aggregate.js';
import { retryOnConflict, type RetryOnConflictOptions } from './conflicts.js';
import { decideAll, type Decider, fold, initial } from './decider.js';
import { type CommandContext, type EventStore, stamp } from './store.js';

/** Where a repository call runs: in your transaction (`tx`, no retries), or in its own (retried on conflict). */
export interface RepositoryRunOptions extends CommandContext, RetryOnConflictOptions {
  readonly tx?: SqlExecutor;
}

/** The stream id of an aggregate id, e.g. `(id) => \`order-${id}\``. */
export type StreamOf = (id: string) => string;

function checkedStream(streamOf: StreamOf, id: string): string {
  if (typeof id !== 'string' || id.length === 0) throw new InvalidArgumentError('id', `use a non-empty string, got ${JSON.stringify(id)}`);
  return streamOf(id);
}

/** Runs `work` in `tx` when given, else in a transaction of its own, retried on a version conflict. */
function run<T>(store: EventStore, options: RepositoryRunOptions, work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
  if (options.tx) return work(options.tx);
  return retryOnConflict(() => store.transaction((tx: pg.PoolClient) => work(tx)), options);
}

/** Repository of {@link AggregateRoot}s: each aggregate is one stream. */
export class AggregateRepository<A extends AggregateRoot> {
  constructor(
    private readonly store: EventStore,
    private readonly options: { readonly stream: StreamOf; readonly create: (id: string) => A },
  ) {}

  /** The aggregate from its stream's events (a new one, version 0, when there are none). */
  async load(id: string, tx?: SqlExecutor): Promise<A> {
    const events = await this.store.readStream(checkedStream(this.options.stream, id), 0, tx);
    const aggregate = this.options.create(id);
    aggregate.loadFromHistory(events);
    return aggregate;
  }

  /** Appends what the aggregate raised, expecting the version it was loaded at; nothing raised, nothing written. */
  async save(tx: SqlExecutor, aggregate: A, context: CommandContext = {}): Promise<AppendResult | undefined> {
    const events = aggregate.uncommittedEvents;
    if (events.length === 0) return undefined;
    const result = await this.store.append(tx, checkedStream(this.options.stream, aggregate.id), stamp(events, context), {
      expectedVersion: aggregate.version === 0 ? 'noStream' : aggregate.version,
    });
    aggregate.markCommitted(result.streamVersion);
    return result;
  }

  /** Loads, runs `work` (which calls the aggregate's methods) and saves, in one transaction. */
  update(id: string, work: (aggregate: A, tx: SqlExecutor) => void | Promise<void>, options: RepositoryRunOptions = {}): Promise<A> {
    return run(this.store, options, async (tx) => {
      const aggregate = await this.load(id, tx);
      await work(aggregate, tx);
      await this.save(tx, aggregate, options);
      return aggregate;
    });
  }
}

/** A state kept in the context's own tables instead of folded from events. */
export interface StateStore<State> {
  /** The state and the stream version it reflects; undefined for a new one. Lock the row (`FOR UPDATE`) if you like. */
  load(tx: SqlExecutor, id: string): Promise<{ readonly state: State; readonly version: number } | undefined>;
  /** Writes the new state (in the same transaction as the events). */
  save(tx: SqlExecutor, id: string, state: State, version: number): Promise<void>;
}

/** What {@link DeciderRepository.execute} did. */
export interface Executed<State> {
  readonly state: State;
  /** The stream version after it (unchanged when the command decided nothing). */
  readonly version: number;
  readonly events: readonly NewEvent[];
  readonly result: AppendResult | undefined;
}

/** Repository of a functional {@link Decider}: state folded from the stream, or kept in a {@link StateStore}. */
export class DeciderRepository<Command, State, Event extends NewEvent = NewEvent> {
  constructor(
    private readonly store: EventStore,
    private readonly options: { readonly stream: StreamOf; readonly decider: Decider<Command, State, Event>; readonly state?: StateStore<State> },
  ) {}

  /** The current state and the version it reflects. */
  async load(id: string, tx?: SqlExecutor): Promise<{ state: State; version: number }> {
    const stream = checkedStream(this.options.stream, id);
    if (this.options.state) {
      const stored = await this.options.state.load(tx ?? noTransaction(), id);
      return stored ? { state: stored.state, version: stored.version } : { state: initial(this.options.decider), version: 0 };
    }
    const events: RecordedEvent[] = await this.store.readStream(stream, 0, tx);
    return { state: fold(this.options.decider, events), version: events.at(-1)?.metadata.streamVersion ?? 0 };
  }

  /** Loads, decides, appends the events and saves the state, in one transaction (retried on conflict when it owns it). */
  execute(id: string, command: Command, options: RepositoryRunOptions = {}): Promise<Executed<State>> {
    return run(this.store, options, async (tx) => {
      const { state, version } = await this.load(id, tx);
      const events = decideAll(this.options.decider, command, state);
      if (events.length === 0) return { state, version, events, result: undefined };
      const next = fold(this.options.decider, events, state);
      const result = await this.store.append(tx, checkedStream(this.options.stream, id), stamp(events, options), {
        expectedVersion: version === 0 ? 'noStream' : version,
      });
      await this.options.state?.save(tx, id, next, result.streamVersion);
      return { state: next, version: result.streamVersion, events, result };
    });
  }
}

function noTransaction(): never {
  throw new InvalidArgumentError('tx', 'a state store loads inside a transaction: pass { tx } or use execute()');
}

/** A repository of aggregate roots on `store` (a Herald). */
export function aggregateRepository<A extends AggregateRoot>(store: EventStore, options: { stream: StreamOf; create: (id: string) => A }): AggregateRepository<A> {
  return new AggregateRepository(store, options);
}

/** A repository of a decider on `store` (a Herald). */
export function deciderRepository<Command, State, Event extends NewEvent = NewEvent>(
  store: EventStore,
  options: { stream: StreamOf; decider: Decider<Command, State, Event>; state?: StateStore<State> },
): DeciderRepository<Command, State, Event> {
  return new DeciderRepository(store, options);
}
