/**
 * Telemetry: named spans around Herald's units of work, like Oban's `[:oban, :engine, …, :stop]`
 * events. Each span emits `<name>:start` before the work and `<name>:stop` (with its duration)
 * or `<name>:exception` (with the error) after; metrics and tracing subscribe by name.
 * Listeners run synchronously: keep them quick. A listener that throws is ignored.
 *
 * Tracing needs two more hooks, both generic: a span's work can be *wrapped* (run inside a
 * context, such as an OpenTelemetry span's), and appended events can be given *metadata* (a
 * trace context to propagate). A span nobody observes runs its work bare: one map look-up.
 */
import type { CustomMetadata, EventMetadata } from '../events/types.js';

/** An event as a handler receives it, for the spans around handlers (recorded or received). */
export interface SpanEvent {
  readonly type: string;
  readonly metadata: EventMetadata;
}

/** The spans Herald measures, and what each one's metadata holds. */
export interface TelemetrySpans {
  /** The sequencer stamped committed events with numbers. */
  'log:sequence': { context: string; stamped?: number; head?: number };
  /** Events were appended to a stream, in the caller's transaction (validation included, commit not). */
  'log:append': { context: string; streamId: string; events: number };
  /** A subscription handled a batch of the log in one transaction. */
  'subscription:batch': { context: string; subscription: string; events: number; from: number };
  /** A subscription's handler ran for one event: in a batch, or a retry on its own. */
  'subscription:handle': { context: string; subscription: string; event: SpanEvent };
  /** A relay published messages and the broker confirmed them all. `items` are the messages (bodies: Herald's CloudEvents). */
  'relay:publish': { context: string; relay: string; messages: number; items: readonly { readonly body: Buffer }[] };
  /** A consumer settled a batch of deliveries in one transaction; `outcomes` counts them by outcome on stop. */
  'consumer:batch': { context: string; consumer: string; messages: number; outcomes?: Readonly<Record<string, number>> };
  /** A consumer settled one message on its own (a failure, a retry, an operator's request, a held one). */
  'consumer:message': { context: string; consumer: string; origin: string; outcome?: string };
  /** A consumer's handler ran for one message. */
  'consumer:handle': { context: string; consumer: string; event: SpanEvent };
}

export type SpanName = keyof TelemetrySpans;

/** What a listener receives. `durationMs` is set on `stop` and `exception`. */
export interface TelemetryEvent<N extends SpanName = SpanName> {
  readonly name: `${N}:${'start' | 'stop' | 'exception'}`;
  readonly metadata: TelemetrySpans[N];
  readonly durationMs?: number;
  readonly error?: unknown;
}

/**
 * Runs a span's work (exactly once) inside something of its own, and returns what the work
 * returned or throws what it threw. A wrapper that throws before calling `work` is passed over.
 */
export type SpanWrapper<N extends SpanName = SpanName> = (metadata: TelemetrySpans[N], work: () => Promise<unknown>) => Promise<unknown>;

/** Metadata for the events of an append (merged under the append's own and each event's, which win). */
export type MetadataEnricher = (append: TelemetrySpans['log:append']) => CustomMetadata | undefined;

type Listener = (event: TelemetryEvent) => void;

export class Telemetry {
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly wrappers = new Map<string, SpanWrapper[]>();
  /** Listeners and wrappers per span name: a span with none runs its work bare. */
  private readonly observers = new Map<string, number>();
  /** Listeners per span name: a span with wrappers only emits nothing. */
  private readonly heard = new Map<string, number>();
  private readonly enrichers = new Set<MetadataEnricher>();

  /** Listens to one event by name, e.g. `'subscription:batch:stop'`. Returns the way to stop listening. */
  on<N extends SpanName>(name: `${N}:${'start' | 'stop' | 'exception'}`, listener: (event: TelemetryEvent<N>) => void): () => void {
    const set = this.listeners.get(name) ?? new Set();
    this.listeners.set(name, set);
    const added = listener as Listener;
    if (set.has(added)) return () => {};
    set.add(added);
    const span = name.slice(0, name.lastIndexOf(':'));
    count(this.observers, span, 1);
    count(this.heard, span, 1);
    return () => {
      if (!set.delete(added)) return;
      count(this.observers, span, -1);
      count(this.heard, span, -1);
    };
  }

  /** Runs every `name` span's work inside `wrapper` (tracing: inside a span's context). Returns the way to remove it. */
  wrap<N extends SpanName>(name: N, wrapper: SpanWrapper<N>): () => void {
    const entry = wrapper as SpanWrapper;
    this.wrappers.set(name, [...(this.wrappers.get(name) ?? []), entry]);
    count(this.observers, name, 1);
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      const left = (this.wrappers.get(name) ?? []).filter((w) => w !== entry);
      if (left.length > 0) this.wrappers.set(name, left);
      else this.wrappers.delete(name);
      count(this.observers, name, -1);
    };
  }

  /**
   * Adds metadata to every event this Herald appends, computed per append inside its
   * `log:append` span: propagation of a trace context, a tenant id. The append's `metadata` and
   * each event's own win over it. An enricher that throws is ignored.
   */
  enrichMetadata(enricher: MetadataEnricher): () => void {
    this.enrichers.add(enricher);
    return () => this.enrichers.delete(enricher);
  }

  /** `options` with the enrichers' metadata under its own (the same object when there are none). */
  enrich<O extends { readonly metadata?: CustomMetadata }>(options: O, append: TelemetrySpans['log:append']): O {
    if (this.enrichers.size === 0) return options;
    let added: CustomMetadata = {};
    for (const enricher of this.enrichers) {
      try {
        const metadata = enricher(append);
        if (metadata) added = { ...added, ...metadata };
      } catch {
        // Like a listener: enrichment must never fail the append it decorates.
      }
    }
    return { ...options, metadata: { ...added, ...options.metadata } };
  }

  /**
   * Runs `work` inside a span. `metadata` may be completed by the work (the stop event carries
   * what it added). Costs one map look-up when nobody observes the span, and emits nothing
   * when only wrappers do.
   */
  span<N extends SpanName, T>(name: N, metadata: TelemetrySpans[N], work: () => Promise<T>): Promise<T> {
    if (!this.observers.has(name)) return work();
    if (!this.heard.has(name)) return this.wrapped(name, metadata, work);
    return this.observed(name, metadata, work);
  }

  private async observed<N extends SpanName, T>(name: N, metadata: TelemetrySpans[N], work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    this.emit(`${name}:start`, { name: `${name}:start`, metadata });
    try {
      const result = await this.wrapped(name, metadata, work);
      this.emit(`${name}:stop`, { name: `${name}:stop`, metadata, durationMs: performance.now() - started });
      return result;
    } catch (error) {
      this.emit(`${name}:exception`, { name: `${name}:exception`, metadata, durationMs: performance.now() - started, error });
      throw error;
    }
  }

  /** The work inside every wrapper of the span, the first one registered outermost. */
  private wrapped<T>(name: string, metadata: unknown, work: () => Promise<T>): Promise<T> {
    const wrappers = this.wrappers.get(name);
    if (!wrappers) return work();
    let run: () => Promise<unknown> = work;
    for (let i = wrappers.length - 1; i >= 0; i--) {
      const wrapper = wrappers[i]!;
      const inner = run;
      run = () => guarded(wrapper, metadata, inner);
    }
    return run() as Promise<T>;
  }

  private emit(name: string, event: TelemetryEvent): void {
    const set = this.listeners.get(name);
    if (!set) return;
    for (const listener of set) {
      try {
        listener(event);
      } catch {
        // A metrics listener must never break the work it measures.
      }
    }
  }
}

/**
 * Runs `work` in `wrapper`, at most once. A wrapper that fails is passed over: before it started
 * the work, the work runs bare; after, the work's own outcome stands.
 */
function guarded(wrapper: SpanWrapper, metadata: unknown, work: () => Promise<unknown>): Promise<unknown> {
  let running: Promise<unknown> | undefined;
  const once = () => (running ??= work());
  try {
    return wrapper(metadata as never, once).then(undefined, () => running ?? work());
  } catch {
    return running ?? work();
  }
}

/** Counts up or down per span name; a name that reaches zero leaves the map. */
function count(counts: Map<string, number>, span: string, change: number): void {
  const n = (counts.get(span) ?? 0) + change;
  if (n > 0) counts.set(span, n);
  else counts.delete(span);
}
