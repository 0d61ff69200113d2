import type { NewEvent, RecordedEvent } from '../events/types.js';

/**
 * The functional style (Jérémie Chassaing's decider, as in Emmett): pure functions, no classes.
 * `decide` checks a command against the state and returns the events (or throws a domain error);
 * `evolve` folds one event into the state; `initialState` is the state of a stream with no events.
 */
export interface Decider<Command, State, Event extends { readonly type: string; readonly data: unknown } = NewEvent> {
  readonly initialState: State | (() => State);
  decide(command: Command, state: State): Event | readonly Event[];
  evolve(state: State, event: Event | RecordedEvent): State;
}

/** The state after `events`, from the decider's initial state (or `from`). Pure. */
export function fold<Command, State, Event extends { readonly type: string; readonly data: unknown }>(
  decider: Decider<Command, State, Event>,
  events: readonly (Event | RecordedEvent)[],
  from: State = initial(decider),
): State {
  return events.reduce((state, event) => decider.evolve(state, event), from);
}

export function initial<State>(decider: { readonly initialState: State | (() => State) }): State {
  return typeof decider.initialState === 'function' ? (decider.initialState as () => State)() : decider.initialState;
}

/** Runs `decide` and normalises its answer to a list. Pure. */
export function decideAll<Command, State, Event extends { readonly type: string; readonly data: unknown }>(decider: Decider<Command, State, Event>, command: Command, state: State): Event[] {
  const decided = decider.decide(command, state);
  return Array.isArray(decided) ? [...decided] : [decided as Event];
}
