import type pg from 'pg';
import { TransportError } from '../errors.js';
import { askPolicy, nextFailure } from '../handlers/failure.js';
import type { ErrorAction, FailureContext } from '../handlers/policy.js';
import { ParkingStore, type ParkedRow } from '../parking/store.js';
import type { Logger } from '../runtime/logger.js';
import { Watchdog } from '../runtime/watchdog.js';
import type { Telemetry } from '../runtime/telemetry.js';
import type { Lease } from '../subscriptions/lease.js';
import type { SubscriptionHealth } from '../subscriptions/definition.js';
import type { RelaySettings } from './options.js';
import type { RelayMessage, RelayPage } from './page.js';
import type { RelaySource } from './source.js';
import { asParkable, isRefusal } from './refusals.js';
import { LeaseHolding } from '../subscriptions/holding.js';
import { ControlRequests } from '../subscriptions/requests.js';
import { type FailureVerdict, LogLoop } from '../subscriptions/loop.js';

/** What a relay tells the outside world. */
export interface RelayHooks {
  /** Spans around each confirmed publish (`relay:publish`). */
  readonly telemetry: Telemetry;
  progress(position: number): void;
  refused(info: { relay: string; message: RelayMessage; error: unknown; failure: FailureContext; action: ErrorAction }): void;
  stopped(info: { relay: string; reason: string }): void;
}

/** A page handed to the broker: its last event number, and whether its confirms are all in. */
interface Page {
  readonly to: number;
  readonly done: Promise<void>;
  settled: boolean;
}

/** What `herald.relay()` returns: the relay's name and its health in this process. */
export interface RelayHandle {
  readonly name: string;
  /** Healthy while publishing works; unhealthy (with the broker's error) while it retries with backoff. */
  health(): SubscriptionHealth;
}

/** The policy said stop: unwinds the loop to mark the relay failed. */
class StopRequested extends Error {}

/**
 * Publishes a context's log to a broker, in log order, and moves its checkpoint only past pages
 * the broker confirmed completely. Up to `pages` pages are in flight at once; one asynchronously
 * committed statement checkpoints every page that settled. It holds a lease like a subscription
 * (one relay process at a time, standbys take over), and its checkpoint and parked messages live
 * with the subscriptions' (status and the operator API cover it).
 *
 * A broker failure or a missing confirm drops the pages in flight: the relay reports itself
 * unhealthy and publishes again from its checkpoint, with backoff. A message the broker refuses
 * for good is found by publishing its page one message at a time and goes to `onRefused`
 * (default: parked); later events of its stream wait behind it, unless `parking: 'message'`.
 * Operators' retries and skips of parked messages are carried out here, in the lease holder.
 */
export class Relay extends LogLoop implements RelayHandle {
  private position = 0;
  private readPosition = 0;
  private pages: Page[] = [];
  /** Streams with a failed message still open (parked, scheduled, or with a request pending). */
  private failedStreams = new Set<string>();
  /** A page being published one message at a time to find what the broker refused; later pages wait for it. */
  private sifting: Promise<void> | undefined;
  /** The next page, read while the current one is published (catch-up). */
  private readAhead: { after: number; page: Promise<RelayPage> } | undefined;
  /** A page failed (not a refusal): hand nothing more over until the pages in flight are dropped. */
  private halted = false;
  /** An operator's request may be waiting: look for due work even if no stream is known to have failed. */
  private dueCheck = true;
  private readonly store: ParkingStore;
  protected readonly holding: LeaseHolding;
  protected readonly requests: ControlRequests;
  protected readonly kind = 'relay';
  protected readonly leaseTtlMs: number;
  private readonly confirms: Watchdog;

  constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
    private readonly context: string,
    readonly settings: RelaySettings,
    private readonly lease: Lease,
    private readonly timing: { leaseTtlMs: number; pollMs: number },
    protected readonly logger: Logger,
    private readonly hooks: RelayHooks,
    private readonly source: RelaySource,
  ) {
    super();
    this.leaseTtlMs = timing.leaseTtlMs;
    this.turnProvesHealth = false; // only a confirmed page does
    this.holding = new LeaseHolding(lease, logger, (controls) => this.renewed(controls));
    this.requests = new ControlRequests(pool, schema, settings.name);
    this.store = new ParkingStore(schema, settings.name);
    this.confirms = new Watchdog(settings.confirmTimeoutMs);
  }

  get name(): string {
    return this.settings.name;
  }

  /** Starts the loop, once the source's checks passed; resolves once this process either runs the relay or stands by. */
  override async start(): Promise<void> {
    if (!this.running) await this.source.prepare?.();
    return super.start();
  }

  /** A source that is not the log is not woken by the log's announcements (its own polling finds its rows). */
  override logAdvanced(head: number): void {
    if (this.source.followsLog) super.logAdvanced(head);
  }

  /** An operator asked for something (or another process released the lease): look now. */
  override nudge(): void {
    this.dueCheck = true;
    super.nudge();
  }

  protected override async failed(error: unknown): Promise<FailureVerdict> {
    await this.dropPages();
    if (error instanceof StopRequested) {
      await this.fail(error.message);
      return 'end';
    }
    return undefined;
  }


  /** Before a pause or a reset: the pages in flight are confirmed and checkpointed (a failed one fails the turn), nothing is read ahead. */
  protected async quiesce(): Promise<void> {
    while (this.pages.length > 0) await this.checkpointPages();
    this.readAhead = undefined;
    this.readPosition = this.position;
  }

  protected positions(): { stored: number; handled: number } {
    return { stored: this.position, handled: this.position };
  }

  /** After a reset: publish on from `to` (again, when it moved back: receivers deduplicate). */
  protected async movedTo(to: number): Promise<void> {
    this.position = to;
    this.readPosition = to;
    this.readAhead = undefined;
    this.mustRead = true;
    this.needsRepair = true;
    this.dueCheck = true;
    this.failedStreams = await this.store.blockedStreams(this.pool);
    this.hooks.progress(to);
  }

  /** One turn: operators' requests and due retries, then checkpoint settled pages, then hand the next page over. */
  protected async step(): Promise<void> {
    if (this.needsRepair) await this.repair();
    if (this.failedStreams.size > 0 || this.dueCheck) {
      this.dueCheck = false;
      await this.handleDue();
    }
    if (this.pages.length > 0 && (this.pages[0]!.settled || this.pages.length >= this.settings.depth)) await this.checkpointPages();
    if (this.readPosition < this.position) this.readPosition = this.position;
    if (this.mustRead || this.readPosition < this.knownHead) {
      this.mustRead = false;
      const page = await this.nextPage(this.readPosition);
      // A page that failed while this one was read: publishing more would only publish it twice.
      if (this.halted && this.pages.length > 0) return this.checkpointPages();
      // An empty page may still move the position (a source that passed rows not to publish).
      if (page.items.length > 0 || page.last > this.readPosition) {
        this.launch(page.items, page.last);
        if (page.items.length === this.settings.pageSize) this.mustRead = true;
        return;
      }
    }
    if (this.pages.length > 0) return this.checkpointPages();
    if (this.settings.transport.health().connected) this.recovered();
    let wait = Math.min(this.timing.pollMs, this.source.idleWaitMs?.() ?? Infinity);
    if (this.failedStreams.size > 0) wait = Math.min(wait, (await this.store.msUntilNextRetry(this.pool)) ?? wait);
    if (!(await this.wakeup.wait(wait))) this.mustRead = true;
  }

  /** The page after `after`; a full page starts reading the one after it, so reads overlap publishing. */
  private async nextPage(after: number): Promise<RelayPage> {
    const ahead = this.readAhead;
    this.readAhead = undefined;
    const page = ahead && ahead.after === after ? await ahead.page : await this.source.read(after, this.settings.pageSize);
    if (page.items.length === this.settings.pageSize) {
      const next = this.source.read(page.last, this.settings.pageSize);
      next.catch(() => {}); // a failed read-ahead is read again normally
      this.readAhead = { after: page.last, page: next };
    }
    return page;
  }

  /** Hands a page to the broker; messages of a blocked stream are stored as waiting behind its failed one instead. */
  private launch(items: readonly RelayMessage[], to: number): void {
    this.readPosition = to;
    // While a page is sifted for a refused message, what follows waits: it may hold the same streams.
    const sifting = this.sifting;
    const page: Page = { to, done: sifting ? sifting.then(() => this.publishPage(items)) : this.publishPage(items), settled: false };
    const settled = () => {
      page.settled = true;
      this.wakeup.notify();
    };
    page.done.then(settled, settled);
    this.pages.push(page);
  }

  private async publishPage(items: readonly RelayMessage[]): Promise<void> {
    // An earlier page failed while this one waited: it is published again from the checkpoint.
    if (this.halted) throw new TransportError(this.settings.transport.kind, 'an earlier page failed');
    // One look at the blocked streams decides both what waits and what is sent.
    const held: RelayMessage[] = [];
    const send: RelayMessage[] = [];
    for (const m of items) (this.holds(m.key) ? held : send).push(m);
    // Handed to the broker before the held ones are stored: pages waiting behind a sifted one all
    // start at once, and a later one must not overtake this one while that store is written.
    const sending = send.length > 0 ? this.publish(send) : undefined;
    sending?.catch(() => {}); // awaited below
    if (held.length > 0) await this.deferBehind(held);
    if (!sending) return;
    try {
      await sending;
    } catch (error) {
      if (!isRefusal(error)) {
        this.halted = true;
        throw error;
      }
      const sift = this.sift(send);
      const settled: Promise<void> = sift.catch(() => {}).finally(() => {
        if (this.sifting === settled) this.sifting = undefined;
      });
      this.sifting = settled;
      try {
        await sift;
      } catch (siftError) {
        this.halted = true;
        throw siftError;
      }
    }
  }

  /**
   * Stores messages as waiting behind their stream's failed one. If that one was resolved and
   * its stream released meanwhile, the stream is blocked again and a repair releases it (in
   * order) on the next turn: a waiting row is never left behind.
   */
  private async deferBehind(messages: readonly RelayMessage[]): Promise<void> {
    await this.store.deferBehind(this.pool, messages.map(asParkable));
    for (const m of messages) {
      if (this.failedStreams.has(m.key)) continue;
      this.failedStreams.add(m.key);
      this.needsRepair = true;
    }
  }

  /** Whether a message of this stream waits behind a failed one instead of being published. */
  private holds(streamId: string): boolean {
    return this.settings.parking === 'stream' && this.failedStreams.has(streamId);
  }

  /** A page with a refused message: publishes it one message at a time, in order, to find which. */
  private async sift(items: readonly RelayMessage[]): Promise<void> {
    for (const message of items) {
      if (this.holds(message.key)) {
        await this.deferBehind([message]);
        continue;
      }
      const failed = await this.tryPublish(message);
      if (failed) await this.refused(message, failed.error, undefined);
    }
  }

  /** Publishes one message; resolves to the refusal, if the broker refused it (other failures throw). */
  private async tryPublish(message: RelayMessage): Promise<{ error: unknown } | undefined> {
    try {
      await this.publish([message]);
      return undefined;
    } catch (error) {
      if (isRefusal(error)) return { error };
      throw error;
    }
  }

  private async publish(messages: readonly RelayMessage[]): Promise<void> {
    const { transport, confirmTimeoutMs } = this.settings;
    await this.hooks.telemetry.span('relay:publish', { context: this.context, relay: this.name, messages: messages.length, items: messages }, async () => {
      await this.confirms.run(
        () => transport.publish('events', messages),
        () => new TransportError(transport.kind, `no confirm for a page within ${confirmTimeoutMs} ms`),
      );
    });
    await this.source.confirmed(messages);
  }

  /** A refused message meets the policy: parked (its stream blocked), scheduled for a retry, skipped, or the relay stops. */
  private async refused(message: RelayMessage, error: unknown, prior: ParkedRow | undefined): Promise<void> {
    const history = prior?.first_failed_at ? { attempts: prior.attempts, firstFailedAt: prior.first_failed_at, context: prior.failure_context } : undefined;
    const step = nextFailure(history, error, { type: message.type, createdAt: message.createdAt }, new Date(), prior?.attempt_count ?? 0);
    const action = await askPolicy(this.settings.onRefused, error, message, step.context);
    this.hooks.refused({ relay: this.name, message, error, failure: step.context, action });
    this.logger.error({ relay: this.name, eventNumber: message.number, action: action.action, err: error }, 'herald: the broker refused a message');
    const status = action.action === 'retry' ? 'scheduled' : action.action === 'skip' ? 'skipped' : 'parked';
    await this.store.recordFailure(this.pool, asParkable(message), {
      status,
      retryAt: action.action === 'retry' ? new Date(Date.now() + action.delayMs) : null,
      error: step.summary,
      fingerprint: step.fingerprint,
      attempts: step.attempts,
      attemptCount: step.context.attempt,
      failureContext: action.action === 'retry' && action.context ? action.context : step.context.context,
      firstFailedAt: step.context.firstFailedAt,
      lastFailedAt: step.context.lastFailedAt,
      reason: action.action === 'retry' ? null : action.action === 'park' ? (action.reason ?? `refused by the broker: ${step.summary.message}`) : action.reason,
    });
    if (status !== 'skipped') this.failedStreams.add(message.key);
    if (action.action === 'stop') throw new StopRequested(`event ${message.number} (${message.type}) refused by the broker: ${action.reason}`);
  }

  /** Operators' retries and skips, and retries that are due; then the messages waiting behind each resolved one. */
  private async handleDue(): Promise<void> {
    for (const row of await this.store.dueHeads(this.pool)) {
      if (!this.running) return;
      const eventNumber = Number(row.event_number);
      if (row.status === 'skip_requested') {
        if (await this.store.markSkipped(this.pool, eventNumber)) await this.release(row.stream_id);
        continue;
      }
      if (!(await this.store.claim(this.pool, eventNumber, row.status, this.lease.owner))) continue;
      const message = await this.readOne(eventNumber);
      const failed = await this.tryPublish(message).catch(async (error) => {
        await this.store.releaseAbandonedClaims(this.pool); // due again after the backoff
        throw error;
      });
      if (failed) await this.refused(message, failed.error, row);
      else {
        await this.store.resolve(this.pool, eventNumber, false);
        await this.release(row.stream_id);
      }
    }
  }

  /** Publishes, in stream order, the messages that waited behind a resolved one. */
  private async release(streamId: string): Promise<void> {
    for (;;) {
      const next = await this.store.nextWaiting(this.pool, streamId);
      if (!next) {
        this.failedStreams.delete(streamId);
        return;
      }
      if (next.status !== 'waiting') return; // another failed message heads the stream
      const message = await this.readOne(Number(next.event_number));
      const failed = await this.tryPublish(message);
      if (failed) return this.refused(message, failed.error, undefined);
      await this.store.resolve(this.pool, message.number, true);
    }
  }

  private async readOne(eventNumber: number): Promise<RelayMessage> {
    const page = await this.source.read(eventNumber - 1, 1);
    const message = page.items[0];
    if (message?.number !== eventNumber) throw new TransportError(this.settings.transport.kind, `event ${eventNumber} is missing from the log`);
    return message;
  }

  /** After a takeover or an error: attempts left claimed, streams whose failed message was resolved but not released. */
  private async repair(): Promise<void> {
    this.needsRepair = false; // set again by whatever needs another repair meanwhile (or by a failure)
    await this.store.releaseAbandonedClaims(this.pool);
    for (const streamId of await this.store.orphanedStreams(this.pool)) await this.release(streamId);
  }

  /** Waits for the oldest page, then moves the checkpoint past it and every later page already done, in one statement. */
  private async checkpointPages(): Promise<void> {
    await this.pages[0]!.done;
    let to = this.pages.shift()!.to;
    while (this.pages[0]?.settled) {
      await this.pages[0].done; // a rejection fails the turn: nothing after it moves
      to = this.pages.shift()!.to;
    }
    const moved = !this.holding.lost && (await this.lease.checkpoint(this.pool, this.position, to, { durable: false, notify: undefined }));
    if (!moved) throw this.holding.loseIt();
    this.position = to;
    this.recovered();
    this.hooks.progress(to);
  }

  /** After a failure: forget the pages in flight (published again from the checkpoint), once they settled. */
  private async dropPages(): Promise<void> {
    const pages = this.pages;
    this.pages = [];
    this.readPosition = this.position;
    this.readAhead = undefined;
    await Promise.allSettled(pages.map((p) => p.done));
    this.halted = false;
  }

  /** A graceful stop checkpoints the pages in flight, then releases the lease. */
  protected async finish(): Promise<void> {
    if (this.phase !== 'running') return;
    try {
      while (this.pages.length > 0) await this.checkpointPages();
    } catch (error) {
      this.logger.warn({ err: error, relay: this.name }, 'herald: pages in flight not checkpointed at stop');
      await this.dropPages();
    }
    this.dropLease();
    await this.lease.release('stopped', null).catch((error) => this.logger.warn({ err: error }, 'herald: lease release failed'));
    this.phase = 'stopped';
  }

  protected async takeLease(force: boolean): Promise<boolean> {
    const position = await this.holding.acquire(force);
    if (position === undefined) return false;
    await this.store.releaseAbandonedClaims(this.pool);
    this.failedStreams = await this.store.blockedStreams(this.pool);
    this.position = position;
    this.readPosition = position;
    this.source.resume?.(position);
    this.mustRead = true;
    this.needsRepair = true;
    this.phase = 'running';
    return true;
  }

  protected dropLease(): void {
    this.holding.drop();
    this.readAhead = undefined;
    if (this.phase === 'running') this.phase = 'standby';
  }

  private async fail(reason: string): Promise<void> {
    this.logger.error({ relay: this.name, reason }, 'herald: relay stopped');
    this.dropLease();
    this.phase = 'failed';
    this.running = false;
    await this.lease.release('failed', reason).catch((error) => this.logger.warn({ err: error }, 'herald: lease release failed'));
    this.hooks.stopped({ relay: this.name, reason });
  }

}
