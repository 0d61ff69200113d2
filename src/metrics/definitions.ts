/**
 * The Prometheus metrics of Herald: their names, help texts and labels, and the gauges filled at
 * scrape time from `herald.status()`. Labels name the context and the subscription, relay or
 * consumer; counters and histograms count what this process did, gauges from status show the
 * database's view (the same in every process: aggregate them with `max`).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { LogStatus } from '../herald/options.js';
import type { SubscriptionState } from '../subscriptions/definition.js';

const STATES: readonly SubscriptionState[] = ['running', 'stopped', 'failed', 'stalled'];

/** What the gauges read at scrape time: every attached Herald's status (cached; failures left out). */
export type Snapshot = () => Promise<readonly LogStatus[]>;

export interface MetricsSettings {
  readonly prefix: string;
  /** Histogram buckets, in seconds. */
  readonly buckets: readonly number[] | undefined;
}

/** Creates every metric, unregistered; {@link MetricSet.all} lists them to register. */
export function defineMetrics(settings: MetricsSettings, snapshot: Snapshot) {
  const all: (Counter<string> | Gauge<string> | Histogram<string>)[] = [];
  const name = (suffix: string) => `${settings.prefix}${suffix}`;
  const counter = <L extends string>(suffix: string, help: string, labelNames: readonly L[]) => add(new Counter({ name: name(suffix), help, labelNames, registers: [] }));
  const gauge = <L extends string>(suffix: string, help: string, labelNames: readonly L[]) => add(new Gauge({ name: name(suffix), help, labelNames, registers: [] }));
  const histogram = <L extends string>(suffix: string, help: string, labelNames: readonly L[]) =>
    add(new Histogram({ name: name(suffix), help, labelNames, registers: [], ...(settings.buckets ? { buckets: [...settings.buckets] } : {}) }));
  /** A gauge set from every status at scrape time; series of what went away disappear. */
  const fromStatus = <L extends string>(suffix: string, help: string, labelNames: readonly L[], fill: (g: Gauge<L>, status: LogStatus) => void) => {
    const g: Gauge<L> = new Gauge({
      name: name(suffix),
      help,
      labelNames,
      registers: [],
      collect: async () => {
        const statuses = await snapshot();
        g.reset();
        for (const status of statuses) fill(g, status);
      },
    });
    return add(g);
  };
  function add<M extends Counter<string> | Gauge<string> | Histogram<string>>(metric: M): M {
    all.push(metric);
    return metric;
  }

  return {
    all,
    statusFailures: counter('status_failures_total', 'Scrapes whose read of a Herald status failed (its status gauges are left out).', ['context']),
    appended: counter('events_appended_total', 'Events appended to the log by this process.', ['context']),
    head: fromStatus('log_head', 'Last sequenced event number of the log.', ['context'], (g, s) => g.set({ context: s.context }, s.head)),
    unsequenced: fromStatus('log_unsequenced', 'Committed events not sequenced yet.', ['context'], (g, s) => g.set({ context: s.context }, s.unsequenced)),
    openAppends: fromStatus('log_open_appends', 'Sessions whose open transaction appended to the log (its events are invisible until it ends).', ['context'], (g, s) =>
      g.set({ context: s.context }, s.openAppends.length),
    ),
    position: fromStatus('subscription_position', 'Last event number a subscription (or relay) handled.', ['context', 'subscription'], (g, s) => {
      for (const sub of s.subscriptions) g.set({ context: s.context, subscription: sub.name }, sub.position);
    }),
    lag: fromStatus('subscription_lag', 'Events sequenced but not handled yet by a subscription (or relay).', ['context', 'subscription'], (g, s) => {
      for (const sub of s.subscriptions) g.set({ context: s.context, subscription: sub.name }, sub.lag);
    }),
    parked: fromStatus('subscription_parked', 'Failed events of a subscription (or refused messages of a relay) waiting for a retry or an operator.', ['context', 'subscription'], (g, s) => {
      for (const sub of s.subscriptions) g.set({ context: s.context, subscription: sub.name }, sub.parked);
    }),
    blocked: fromStatus('subscription_blocked_streams', 'Streams held back behind a failed event.', ['context', 'subscription'], (g, s) => {
      for (const sub of s.subscriptions) g.set({ context: s.context, subscription: sub.name }, sub.blockedStreams);
    }),
    state: fromStatus('subscription_state', 'A subscription (or relay) state: 1 for the current one.', ['context', 'subscription', 'state'], (g, s) => {
      for (const sub of s.subscriptions) for (const state of STATES) g.set({ context: s.context, subscription: sub.name, state }, sub.state === state ? 1 : 0);
    }),
    events: counter('subscription_events_total', 'Events that went through a subscription batch in this process (handled, already seen, or settled by the error policy).', ['context', 'subscription']),
    batchDuration: histogram('subscription_batch_duration_seconds', 'Duration of a subscription batch (one transaction).', ['context', 'subscription']),
    subscriptionFailures: counter('subscription_handler_failures_total', 'Failed handler attempts of a subscription, by what the error policy decided.', ['context', 'subscription', 'action']),
    published: counter('relay_published_total', 'Messages a relay published and the broker confirmed.', ['context', 'relay']),
    publishDuration: histogram('relay_publish_duration_seconds', 'Duration of a relay publish, until the broker confirmed it all.', ['context', 'relay']),
    inFlight: gauge('relay_in_flight', 'Messages handed to the broker and not confirmed yet.', ['context', 'relay']),
    publishFailures: counter('relay_publish_failures_total', 'Relay publishes that failed (broker down, missing confirm, a refusal found).', ['context', 'relay']),
    refused: counter('relay_refused_total', 'Messages a broker refused for good, by what onRefused decided.', ['context', 'relay', 'action']),
    relayHealthy: fromStatus('relay_healthy', 'Whether a relay running in this process publishes (0 while the broker fails).', ['context', 'relay'], (g, s) => {
      for (const relay of s.relays) g.set({ context: s.context, relay: relay.name }, relay.healthy ? 1 : 0);
    }),
    messages: counter('consumer_messages_total', 'Messages a consumer settled in this process, by outcome.', ['context', 'consumer', 'outcome']),
    consumerBatchDuration: histogram('consumer_batch_duration_seconds', 'Duration of a consumer batch (one transaction).', ['context', 'consumer']),
    consumerFailures: counter('consumer_handler_failures_total', 'Failed handler attempts of a consumer, by what the error policy decided.', ['context', 'consumer', 'action']),
    consumerHealthy: fromStatus('consumer_healthy', 'Whether a consumer running in this process works (0 while the database or broker fails, or after a stop policy).', ['context', 'consumer'], (g, s) => {
      for (const c of s.consumers) g.set({ context: s.context, consumer: c.name }, c.healthy ? 1 : 0);
    }),
    held: fromStatus('consumer_held', 'Messages a consumer holds for stream order (stored, all processes).', ['context', 'consumer'], (g, s) => {
      for (const c of s.consumers) g.set({ context: s.context, consumer: c.name }, c.held);
    }),
    scheduled: fromStatus('consumer_scheduled', 'Messages of a consumer waiting for a retry (stored, all processes).', ['context', 'consumer'], (g, s) => {
      for (const c of s.consumers) g.set({ context: s.context, consumer: c.name }, c.scheduled);
    }),
    consumerParked: fromStatus('consumer_parked', 'Messages of a consumer parked for review (stored, all processes).', ['context', 'consumer'], (g, s) => {
      for (const c of s.consumers) g.set({ context: s.context, consumer: c.name }, c.parked);
    }),
    pending: fromStatus('delivery_pending', "Events of this log a consumer in another context has not acknowledged yet.", ['context', 'consumer'], (g, s) => {
      for (const d of s.deliveries) g.set({ context: s.context, consumer: d.consumer }, d.pending);
    }),
    flagged: fromStatus('delivery_flagged', 'Events not acknowledged by a consumer within deliveries.flagAfterMs.', ['context', 'consumer'], (g, s) => {
      for (const d of s.deliveries) g.set({ context: s.context, consumer: d.consumer }, d.flagged);
    }),
  };
}

export type MetricSet = ReturnType<typeof defineMetrics>;

/** Registers every metric, or none: a name already there fails before anything is added. */
export function registerAll(registry: Registry, metrics: MetricSet): string[] {
  const names = metrics.all.map((m) => (m as unknown as { name: string }).name);
  const taken = names.find((n) => registry.getSingleMetric(n) !== undefined);
  if (taken !== undefined) return [taken];
  for (const metric of metrics.all) registry.registerMetric(metric);
  return [];
}

/** Removes the metrics from the registry (only where they are still the ones registered). */
export function unregisterAll(registry: Registry, metrics: MetricSet): void {
  for (const metric of metrics.all) {
    const name = (metric as unknown as { name: string }).name;
    if (registry.getSingleMetric(name) === metric) registry.removeSingleMetric(name);
  }
}
