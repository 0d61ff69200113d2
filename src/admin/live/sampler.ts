import type { ConsumerStatus } from '../../consumers/definition.js';
import type { ConsumerDeliveryStatus } from '../../deliveries/journal.js';
import { describe } from '../../errors.js';
import type { OpenAppend } from '../../log/open-appends.js';
import type { OperatorAction } from '../../operations/bulk.js';
import type { ConsumerSummary } from '../../operations/failures.js';
import type { Logger } from '../../runtime/logger.js';
import type { SubscriptionHealth, SubscriptionStatus } from '../../subscriptions/definition.js';
import type { AdminContext } from '../options.js';

/** A subscription or relay as the overview shows it: its status, and its throughput from the samples. */
export interface LoopView extends SubscriptionStatus {
  readonly kind: 'subscription' | 'relay';
  /** Events handled per second between the last two samples. */
  readonly rate: number;
  /** Recent throughput, oldest first (one value per sample interval). */
  readonly spark: readonly number[];
  /** Health, when the relay runs in this process. */
  readonly health: SubscriptionHealth | null;
}

/** One context as last sampled. */
export interface ContextSnapshot {
  readonly context: string;
  readonly at: Date;
  /** Set when the status could not be read (the database is away, say); the rest is from the last good sample. */
  readonly error: string | null;
  readonly head: number;
  /** Events appended (sequenced) per second, and recently. */
  readonly headRate: number;
  readonly headSpark: readonly number[];
  readonly unsequenced: number;
  readonly openAppends: readonly OpenAppend[];
  readonly loops: readonly LoopView[];
  /** Consumers of other contexts in this one (stored messages, all processes), with this process's status when they run here. */
  readonly consumers: readonly (ConsumerSummary & { readonly local: ConsumerStatus | null })[];
  readonly deliveries: readonly ConsumerDeliveryStatus[];
  /** Bulk actions not ended yet. */
  readonly actions: readonly OperatorAction[];
}

const HISTORY = 40;

/**
 * Samples every context's status on a timer, keeps positions in memory for throughput
 * sparklines, and hands each round to listeners (the live-update streams). Starts on first use.
 */
export class Sampler {
  private timer: NodeJS.Timeout | undefined;
  private poked: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly history = new Map<string, { t: number; position: number }[]>();
  private readonly snapshots = new Map<string, ContextSnapshot>();
  private readonly listeners = new Set<(snapshots: readonly ContextSnapshot[]) => void>();

  constructor(
    private readonly contexts: readonly AdminContext[],
    private readonly everyMs: number,
    private readonly logger: Logger | undefined,
  ) {}

  /** The latest round, sampling one now if there is none yet. */
  async latest(): Promise<readonly ContextSnapshot[]> {
    this.start();
    if (this.snapshots.size < this.contexts.length) await this.sampleNow();
    return this.contexts.map((c) => this.snapshots.get(c.context)!).filter(Boolean);
  }

  /** Samples now (and tells the listeners); concurrent callers share one round. */
  sampleNow(): Promise<void> {
    this.running ??= this.round().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Something changed (a bulk action progressed): sample soon, at most once per 200 ms. */
  poke(): void {
    if (this.poked || this.stopped) return;
    this.poked = setTimeout(() => {
      this.poked = undefined;
      void this.sampleNow();
    }, 200);
    this.poked.unref();
  }

  /** Calls `listener` after every round until the returned function is called. */
  listen(listener: (snapshots: readonly ContextSnapshot[]) => void): () => void {
    this.start();
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start(): void {
    if (this.timer || this.stopped) return;
    this.timer = setInterval(() => void this.sampleNow(), this.everyMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.poked);
    this.listeners.clear();
    await this.running;
  }

  private async round(): Promise<void> {
    await Promise.all(this.contexts.map((context) => this.sample(context)));
    const all = this.contexts.map((c) => this.snapshots.get(c.context)!).filter(Boolean);
    for (const listener of this.listeners) {
      try {
        listener(all);
      } catch (error) {
        this.logger?.warn({ err: error }, 'herald admin: a live-update listener failed');
      }
    }
  }

  private async sample(herald: AdminContext): Promise<void> {
    const now = Date.now();
    try {
      const [status, consumers, actions] = await Promise.all([herald.status(), herald.operations.failures.consumers(), herald.operations.bulk.list(20)]);
      const head = this.track(`${herald.context}|`, now, status.head);
      const relays = new Map(status.relays.map((r) => [r.name, r]));
      const local = new Map(status.consumers.map((c) => [c.name, c]));
      this.snapshots.set(herald.context, {
        context: herald.context,
        at: new Date(now),
        error: null,
        head: status.head,
        headRate: head.rate,
        headSpark: head.spark,
        unsequenced: status.unsequenced,
        openAppends: status.openAppends,
        loops: status.subscriptions.map((s) => {
          const relay = relays.get(s.name);
          const { rate, spark } = this.track(`${herald.context}|${s.name}`, now, s.position);
          const health = relay ? { healthy: relay.healthy, lastError: relay.lastError, since: relay.since, failures: relay.failures } : null;
          return { ...s, kind: relay || s.name.startsWith('relay:') ? 'relay' : 'subscription', rate, spark, health };
        }),
        consumers: consumers.map((c) => ({ ...c, local: local.get(c.consumer) ?? null })),
        deliveries: status.deliveries,
        actions: actions.filter((a) => a.status === 'frozen' || a.status === 'running' || a.status === 'settling'),
      });
    } catch (error) {
      this.logger?.warn({ err: error, context: herald.context }, 'herald admin: could not sample status');
      const last = this.snapshots.get(herald.context);
      if (last) this.snapshots.set(herald.context, { ...last, at: new Date(now), error: describe(error) });
    }
  }

  /** Records a position and returns the latest rate and the recent rates (events per second). */
  private track(key: string, t: number, position: number): { rate: number; spark: number[] } {
    const points = this.history.get(key) ?? [];
    points.push({ t, position });
    if (points.length > HISTORY) points.shift();
    this.history.set(key, points);
    const spark: number[] = [];
    for (let i = 1; i < points.length; i++) {
      const seconds = (points[i]!.t - points[i - 1]!.t) / 1000;
      spark.push(seconds > 0 ? Math.max(0, points[i]!.position - points[i - 1]!.position) / seconds : 0);
    }
    return { rate: spark[spark.length - 1] ?? 0, spark };
  }
}
