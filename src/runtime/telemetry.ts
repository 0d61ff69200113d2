/**
 * Telemetry: named spans around Herald's units of work, like Oban's `[:oban, :engine, …, :stop]`
 * events. Each span emits `<name>:start` before the work and `<name>:stop` (with its duration)
 * or `<name>:exception` (with the error) after; metrics and tracing subscribe by name.
 * Listeners run synchronously: keep them quick. A listener that throws is ignored.
 */

/** The spans Herald measures, and what each one's metadata holds. */
export interface TelemetrySpans {
  /** The sequencer stamped committed events with numbers. */
  'log:sequence': { context: string; stamped?: number; head?: number };
  /** A subscription handled a batch of the log in one transaction. */
  'subscription:batch': { context: string; subscription: string; events: number; from: number };
  /** A relay published messages and the broker confirmed them all. */
  'relay:publish': { context: string; relay: string; messages: number };
  /** A consumer settled a batch of deliveries in one transaction. */
  'consumer:batch': { context: string; consumer: string; messages: number };
  /** A consumer settled one message on its own (a failure, a retry, an operator's request, a held one). */
  'consumer:message': { context: string; consumer: string; origin: string; outcome?: string };
}

export type SpanName = keyof TelemetrySpans;

/** What a listener receives. `durationMs` is set on `stop` and `exception`. */
export interface TelemetryEvent<N extends SpanName = SpanName> {
  readonly name: `${N}:${'start' | 'stop' | 'exception'}`;
  readonly metadata: TelemetrySpans[N];
  readonly durationMs?: number;
  readonly error?: unknown;
}

type Listener = (event: TelemetryEvent) => void;

export class Telemetry {
  private readonly listeners = new Map<string, Set<Listener>>();

  /** Listens to one event by name, e.g. `'subscription:batch:stop'`. */
  on<N extends SpanName>(name: `${N}:${'start' | 'stop' | 'exception'}`, listener: (event: TelemetryEvent<N>) => void): () => void {
    const set = this.listeners.get(name) ?? new Set();
    this.listeners.set(name, set);
    set.add(listener as Listener);
    return () => set.delete(listener as Listener);
  }

  /**
   * Runs `work` inside a span. `metadata` may be completed by the work (the stop event carries
   * what it added). Costs two map look-ups when nobody listens.
   */
  async span<N extends SpanName, T>(name: N, metadata: TelemetrySpans[N], work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    this.emit(`${name}:start`, { name: `${name}:start`, metadata });
    try {
      const result = await work();
      this.emit(`${name}:stop`, { name: `${name}:stop`, metadata, durationMs: performance.now() - started });
      return result;
    } catch (error) {
      this.emit(`${name}:exception`, { name: `${name}:exception`, metadata, durationMs: performance.now() - started, error });
      throw error;
    }
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
