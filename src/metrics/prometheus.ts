/**
 * Prometheus metrics for one or more Heralds, with `prom-client` (an optional peer dependency):
 * counters and histograms from `herald.telemetry` spans and `herald.on` events, gauges read at
 * scrape time from `herald.status()` (cached, so a storm of scrapes reads the database once per
 * `statusCacheMs`). Nothing in Herald's core calls a metric.
 */
import { register as defaultRegistry, type Registry } from 'prom-client';
import { ConfigError } from '../errors.js';
import type { HeraldEvents, LogStatus } from '../herald/options.js';
import type { Telemetry } from '../runtime/telemetry.js';
import { Cached } from './cached.js';
import { defineMetrics, type MetricSet, registerAll, unregisterAll } from './definitions.js';

/** What metrics need of a Herald (a `Herald` is one). */
export interface MeasuredHerald {
  readonly context: string;
  readonly telemetry: Pick<Telemetry, 'on'>;
  on<K extends keyof HeraldEvents>(event: K, listener: (payload: HeraldEvents[K]) => void): unknown;
  off<K extends keyof HeraldEvents>(event: K, listener: (payload: HeraldEvents[K]) => void): unknown;
  status(): Promise<LogStatus>;
}

export interface PrometheusOptions {
  /** Where the metrics are registered. Default: prom-client's global `register`. */
  readonly registry?: Registry;
  /** Prepended to every metric name. Default `'herald_'`. */
  readonly prefix?: string;
  /** How long one read of every Herald's status serves scrapes. Default 1000 ms; 0 reads per scrape. */
  readonly statusCacheMs?: number;
  /** Histogram buckets in seconds. Default: prom-client's (5 ms to 10 s). */
  readonly buckets?: readonly number[];
}

/** What {@link prometheusMetrics} returns. */
export interface HeraldMetrics {
  readonly registry: Registry;
  /** The Heralds still measured: one that stops is detached (its listeners removed, its status no longer read). */
  readonly heralds: readonly MeasuredHerald[];
  /** Detaches from every Herald and removes the metrics from the registry. Idempotent. */
  close(): void;
}

const PREFIX = /^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/;

/**
 * Measures Heralds for Prometheus. Metrics are named `<prefix><name>` and labelled with the
 * `context` and the `subscription`, `relay` or `consumer` (see the README for the list). When
 * every Herald has stopped, or on `close()`, the metrics leave the registry.
 *
 * ```ts
 * import { prometheusMetrics, serveMetrics } from 'herald/metrics';
 * const metrics = prometheusMetrics([orders, billing]);
 * const server = await serveMetrics({ port: 9464 }); // GET /metrics
 * ```
 */
export function prometheusMetrics(heralds: MeasuredHerald | readonly MeasuredHerald[], options: PrometheusOptions = {}): HeraldMetrics {
  const list = [...new Set(Array.isArray(heralds) ? (heralds as readonly MeasuredHerald[]) : [heralds as MeasuredHerald])];
  if (list.length === 0 || !list.every(isHerald)) throw new ConfigError('prometheusMetrics: pass a Herald or an array of Heralds');
  const prefix = options.prefix ?? 'herald_';
  if (typeof prefix !== 'string' || !PREFIX.test(prefix)) throw new ConfigError(`prometheusMetrics: prefix must be a Prometheus metric name prefix, got ${JSON.stringify(prefix)}`);
  const cacheMs = options.statusCacheMs ?? 1000;
  if (typeof cacheMs !== 'number' || !Number.isFinite(cacheMs) || cacheMs < 0) throw new ConfigError(`prometheusMetrics: statusCacheMs must be a number ≥ 0, got ${JSON.stringify(cacheMs)}`);
  const registry = options.registry ?? defaultRegistry;

  const attached = new Map<MeasuredHerald, () => void>();
  const snapshot = new Cached(async () => {
    const heralds = [...attached.keys()];
    const results = await Promise.allSettled(heralds.map((h) => h.status()));
    const statuses: LogStatus[] = [];
    results.forEach((result, i) => {
      if (result.status === 'fulfilled') statuses.push(result.value);
      else metrics.statusFailures.inc({ context: heralds[i]!.context });
    });
    return statuses;
  }, cacheMs);
  const metrics = defineMetrics({ prefix, buckets: options.buckets }, () => snapshot.get());
  const [taken] = registerAll(registry, metrics);
  if (taken !== undefined) throw new ConfigError(`prometheusMetrics: a metric named '${taken}' is already registered; measure every Herald in one call, close() the earlier one, or use another prefix or registry`);

  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    for (const detach of attached.values()) detach();
    attached.clear();
    snapshot.clear();
    unregisterAll(registry, metrics);
  };
  for (const herald of list) {
    attached.set(herald, attach(herald, metrics, () => {
      attached.get(herald)?.();
      attached.delete(herald);
      snapshot.clear();
      if (attached.size === 0) close();
    }));
  }
  return {
    registry,
    get heralds() {
      return [...attached.keys()];
    },
    close,
  };
}

function isHerald(value: unknown): value is MeasuredHerald {
  const h = value as MeasuredHerald | undefined;
  return typeof h?.context === 'string' && typeof h.telemetry?.on === 'function' && typeof h.on === 'function' && typeof h.off === 'function' && typeof h.status === 'function';
}

/** Listens to one Herald's spans and events; returns the way to stop listening. */
function attach(herald: MeasuredHerald, m: MetricSet, stopped: () => void): () => void {
  const t = herald.telemetry;
  const context = herald.context;
  const offs: (() => void)[] = [
    t.on('log:append:stop', (e) => m.appended.inc({ context }, e.metadata.events)),
    t.on('subscription:batch:stop', (e) => {
      const labels = { context, subscription: e.metadata.subscription };
      m.events.inc(labels, e.metadata.events);
      m.batchDuration.observe(labels, seconds(e.durationMs));
    }),
    t.on('relay:publish:start', (e) => m.inFlight.inc({ context, relay: e.metadata.relay }, e.metadata.messages)),
    t.on('relay:publish:stop', (e) => {
      const labels = { context, relay: e.metadata.relay };
      m.inFlight.dec(labels, e.metadata.messages);
      m.published.inc(labels, e.metadata.messages);
      m.publishDuration.observe(labels, seconds(e.durationMs));
    }),
    t.on('relay:publish:exception', (e) => {
      const labels = { context, relay: e.metadata.relay };
      m.inFlight.dec(labels, e.metadata.messages);
      m.publishFailures.inc(labels);
    }),
    t.on('consumer:batch:stop', (e) => {
      const consumer = e.metadata.consumer;
      for (const [outcome, n] of Object.entries(e.metadata.outcomes ?? {})) m.messages.inc({ context, consumer, outcome }, n);
      m.consumerBatchDuration.observe({ context, consumer }, seconds(e.durationMs));
    }),
    t.on('consumer:message:stop', (e) => {
      if (e.metadata.outcome) m.messages.inc({ context, consumer: e.metadata.consumer, outcome: e.metadata.outcome });
    }),
  ];
  const listen = <K extends keyof HeraldEvents>(event: K, listener: (payload: HeraldEvents[K]) => void) => {
    herald.on(event, listener);
    offs.push(() => herald.off(event, listener));
  };
  listen('attemptFailed', (e) => m.subscriptionFailures.inc({ context, subscription: e.subscription, action: e.action.action }));
  listen('messageAttemptFailed', (e) => m.consumerFailures.inc({ context, consumer: e.consumer, action: e.action.action }));
  listen('messageRefused', (e) => m.refused.inc({ context, relay: e.relay, action: e.action.action }));
  listen('stopped', stopped);
  return () => {
    for (const off of offs.splice(0)) off();
  };
}

function seconds(ms: number | undefined): number {
  return (ms ?? 0) / 1000;
}
