import type pg from 'pg';
import { describe, HandlerSqlError, HandlerTimeoutError, MalformedMessageError } from '../errors.js';
import { validatePayload } from '../events/define.js';
import { askPolicy, handlerOutcome, nextFailure } from '../handlers/failure.js';
import type { ErrorAction, FailureContext } from '../handlers/policy.js';
import type { Logger } from '../runtime/logger.js';
import type { Watchdog } from '../runtime/watchdog.js';
import type { Telemetry, TelemetrySpans } from '../runtime/telemetry.js';
import { transaction, type Transaction } from '../sql/transaction.js';
import type { SqlExecutor } from '../sql/executor.js';
import { decodeCloudEvent, type ReceivedEvent } from '../transports/cloudevents.js';
import { type ArrivalOrigin, decideArrival, decideGap, startingPoint } from './arrival.js';
import type { ConsumerSettings } from './definition.js';
import type { StoredMessage, StoredMessages } from './stored.js';
import type { ConsumerStreams, Resolution } from './streams.js';

/** A message about to be settled: fresh from the broker, or a stored one. */
export interface Incoming {
  readonly key: string;
  readonly body: Buffer;
  readonly brokerId: string | null;
  /** The decoded event; undefined when the body is not a valid Herald CloudEvent (`malformed` says why). */
  readonly event: ReceivedEvent | undefined;
  readonly malformed?: string;
  readonly origin: ArrivalOrigin;
  /** The stored row it comes from (held, scheduled, or with an operator's request). */
  readonly stored?: StoredMessage;
}

/** How settling a message ended. `busy`: a stored row changed meanwhile (another process got to it first). */
export type Outcome = 'handled' | 'already-seen' | 'ignored' | 'duplicate' | 'held' | 'scheduled' | 'parked' | 'skipped' | 'stopped' | 'busy';

/** What a consumer reports as it settles messages. */
export interface HandlingHooks {
  /** Spans around each batch (`consumer:batch`) and each message settled on its own (`consumer:message`). */
  readonly telemetry: Telemetry;
  settled(incoming: Incoming, outcome: Outcome, detail: { reason?: string; unknownType?: string }): void;
  attemptFailed(info: { consumer: string; event: ReceivedEvent; error: unknown; failure: FailureContext; action: ErrorAction }): void;
}

/** What can be done with a message's type and payload, whatever its turn. */
type Verdict = { readonly kind: 'handle' } | { readonly kind: 'ignore'; readonly unknown: boolean } | { readonly kind: 'park'; readonly reason: string };

/** The handler failed (threw, rejected, returned something else, or timed out). */
export class HandlerFailed extends Error {
  constructor(readonly error: unknown) {
    super('handler failed');
  }
}

const SAVEPOINT = 'herald_attempt';

/**
 * The transactional core of a consumer: settles messages in transactions that lock their
 * streams, decide each arrival ({@link decideArrival}), record inbox ids, run handlers, move
 * stream versions and write receipts — and, when a handler fails, record the failure durably in
 * the same transaction (rolled back to a savepoint), as the error policy decides.
 */
export class MessageHandling {
  constructor(
    private readonly pool: pg.Pool,
    private readonly context: string,
    private readonly settings: ConsumerSettings,
    private readonly streams: ConsumerStreams,
    private readonly stored: StoredMessages,
    private readonly watchdog: Watchdog,
    private readonly logger: Logger,
    private readonly hooks: HandlingHooks,
  ) {}

  /** Whether an event's type and payload can be handled (before and whatever its turn). */
  async verdict(event: ReceivedEvent): Promise<Verdict> {
    const route = this.settings.router.route(event.type);
    if (route === 'ignore') return { kind: 'ignore', unknown: false };
    if (route === 'unknown') {
      return this.settings.unknownTypes === 'park' ? { kind: 'park', reason: `unknown event type '${event.type}': no handler` } : { kind: 'ignore', unknown: true };
    }
    const definition = this.settings.schemas.get(event.type);
    if (!definition) return { kind: 'handle' };
    try {
      await validatePayload(event.type, definition.schema, event.data);
      return { kind: 'handle' };
    } catch (error) {
      return { kind: 'park', reason: describe(error) };
    }
  }

  /**
   * Settles fresh deliveries in one transaction with a fixed number of statements: lock every
   * stream, decide each message in arrival order against the locked versions, record the inbox
   * ids at once, run the handlers, then move the versions and write the receipts at once.
   * Throws if anything fails (a handler included): the batch rolls back, and the caller settles
   * each message on its own with {@link settle}, where failures meet the policy.
   */
  settleBatch(batch: readonly Incoming[]): Promise<Outcome[]> {
    const metadata: TelemetrySpans['consumer:batch'] = { context: this.context, consumer: this.settings.name, messages: batch.length };
    return this.hooks.telemetry.span('consumer:batch', metadata, async () => {
      const outcomes = await this.settleBatchNow(batch);
      const counts: Record<string, number> = {};
      for (const outcome of outcomes) counts[outcome] = (counts[outcome] ?? 0) + 1;
      metadata.outcomes = counts;
      return outcomes;
    });
  }

  private async settleBatchNow(batch: readonly Incoming[]): Promise<Outcome[]> {
    const verdicts = await Promise.all(batch.map((item) => this.verdict(item.event!)));
    const outcomes = await transaction(this.pool, async (t) => {
      const tx = t.client;
      const streams = await this.streams.lock(tx, batch.map((item) => item.event!.metadata.streamId));
      const outcomes: Outcome[] = new Array(batch.length);
      const toHandle: number[] = [];
      const redelivered: number[] = [];
      for (let i = 0; i < batch.length; i++) {
        const { event, key, body, brokerId } = batch[i]!;
        const m = event!.metadata;
        const stream = streams.get(m.streamId)!;
        const decision = decideArrival(stream, m.streamVersion, 'broker', this.settings);
        if (decision.kind === 'duplicate') {
          outcomes[i] = 'duplicate';
          if (decision.why === 'handled') redelivered.push(i);
        }
        else if (decision.kind === 'hold') {
          await this.stored.hold(tx, key, event!, body, brokerId);
          outcomes[i] = 'held';
        } else if (verdicts[i]!.kind === 'park') {
          await this.stored.recordFailure(tx, key, event, body, brokerId, { status: 'parked', reason: (verdicts[i] as { reason: string }).reason, attemptCount: 0 });
          streams.set(m.streamId, { version: startingPoint(stream, m.streamVersion, this.settings).version, blockedVersion: m.streamVersion });
          outcomes[i] = 'parked';
        } else {
          streams.set(m.streamId, { version: Math.max(startingPoint(stream, m.streamVersion, this.settings).version, m.streamVersion), blockedVersion: stream.blockedVersion });
          toHandle.push(i);
        }
      }
      // A message twice in one batch (a broker redelivery beside the original) is a duplicate of the
      // copy handled here, not a divergence: that copy's id is not in the inbox yet.
      const known = await this.streams.knownEventIds(tx, redelivered.map((i) => batch[i]!.event!.metadata.eventId));
      for (const i of toHandle) known.add(batch[i]!.event!.metadata.eventId);
      for (const i of redelivered) if (!known.has(batch[i]!.event!.metadata.eventId)) outcomes[i] = await this.parkDivergence(tx, batch[i]!);
      const recorded = await this.streams.recordInInbox(tx, toHandle.map((i) => batch[i]!.event!.metadata.eventId));
      const versions = new Map<string, number>();
      const numbers: number[] = [];
      for (const i of toHandle) {
        const event = batch[i]!.event!;
        const m = event.metadata;
        if (!recorded.delete(m.eventId)) outcomes[i] = 'duplicate';
        else outcomes[i] = verdicts[i]!.kind === 'handle' ? await this.invoke(t, event) : 'ignored';
        versions.set(m.streamId, Math.max(versions.get(m.streamId) ?? 0, m.streamVersion));
        numbers.push(m.eventNumber);
      }
      if (numbers.length > 0) await this.streams.finishAll(tx, versions, numbers);
      return outcomes;
    });
    batch.forEach((item, i) => this.report(item, outcomes[i]!, verdicts[i]!));
    return outcomes;
  }

  /**
   * A message for a stream version already handled, with an event id never seen: not a
   * redelivery but a different event — the sender's log went back (a restored backup) and reused
   * the version. Parked for a person, never dropped; no receipt, so the sender's journal does not
   * count it as handled.
   */
  private async parkDivergence(tx: SqlExecutor, incoming: Incoming): Promise<Outcome> {
    const m = incoming.event!.metadata;
    const reason = `divergence: version ${m.streamVersion} of stream '${m.streamId}' was already handled as another event; this one (${m.eventId}, number ${m.eventNumber}) is new — has the sender's database been restored from a backup?`;
    await this.stored.recordFailure(tx, incoming.key, incoming.event, incoming.body, incoming.brokerId, { status: 'parked', reason, attemptCount: 0 });
    return 'parked';
  }

  /**
   * Settles one message in one transaction under its stream's row lock: hold it, drop a
   * duplicate, park what cannot be handled, or handle it. A handler failure is rolled back to a
   * savepoint and recorded in the same transaction as the policy decides (scheduled for a retry,
   * parked, skipped, or stopped), so no other process can attempt it in between. Throws only for
   * database failures (nothing changed; try again later).
   */
  settle(incoming: Incoming): Promise<Outcome> {
    const metadata: { context: string; consumer: string; origin: string; outcome?: string } = { context: this.context, consumer: this.settings.name, origin: incoming.origin };
    return this.hooks.telemetry.span('consumer:message', metadata, async () => (metadata.outcome = await this.settleNow(incoming)));
  }

  private async settleNow(incoming: Incoming): Promise<Outcome> {
    let verdict: Verdict | undefined;
    try {
      const outcome = await transaction(this.pool, async (t) => {
        const result = await this.settleIn(t, incoming);
        verdict = result.verdict;
        return result.outcome;
      });
      this.report(incoming, outcome, verdict);
      return outcome;
    } catch (error) {
      if (!(error instanceof HandlerFailed && error.error instanceof HandlerTimeoutError)) throw error;
      // The timed-out transaction was abandoned (its connection closed): record the failure in a new one.
      const timedOut = error.error;
      const outcome = await transaction(this.pool, (t) => this.recordAbandoned(t, incoming, timedOut));
      this.report(incoming, outcome, verdict);
      return outcome;
    }
  }

  private async settleIn(t: Transaction, incoming: Incoming): Promise<{ outcome: Outcome; verdict?: Verdict }> {
    const tx = t.client;
    const { event } = incoming;
    const stream = event ? await this.streams.lockOne(tx, event.metadata.streamId) : undefined;
    const stored = incoming.stored ? await this.stored.read(tx, incoming.stored.key, true) : undefined;
    if (incoming.stored && !stillExpected(stored, incoming.origin)) return { outcome: 'busy' };
    // Without stream order nothing else tells a redelivery of a stored failure from a new message.
    if (!incoming.stored && this.settings.ordering === 'none' && (await this.stored.read(tx, incoming.key))) return { outcome: 'duplicate' };
    if (!event || !stream) {
      const reason = incoming.malformed ?? 'malformed message';
      await this.stored.recordFailure(tx, incoming.key, undefined, incoming.body, incoming.brokerId, { status: 'parked', reason, attemptCount: (stored?.attemptCount ?? 0) + (stored ? 1 : 0) });
      return { outcome: 'parked' };
    }
    const decision = decideArrival(stream, event.metadata.streamVersion, incoming.origin, this.settings);
    if (decision.kind === 'duplicate') {
      if (stored) await this.stored.resolveStale(tx, stored, 'already handled');
      else if (decision.why === 'handled' && !(await this.streams.knownEventIds(tx, [event.metadata.eventId])).has(event.metadata.eventId)) {
        return { outcome: await this.parkDivergence(tx, incoming) };
      }
      return { outcome: 'duplicate' };
    }
    if (decision.kind === 'hold') {
      if (!stored) await this.stored.hold(tx, incoming.key, event, incoming.body, incoming.brokerId);
      else if (stored.status !== 'held') await this.stored.backToHeld(tx, stored.key);
      return { outcome: 'held' };
    }
    const verdict = await this.verdict(event);
    if (verdict.kind === 'park') {
      await this.stored.recordFailure(tx, incoming.key, event, incoming.body, incoming.brokerId, { status: 'parked', reason: verdict.reason, attemptCount: stored?.attemptCount ?? 0 });
      return { outcome: 'parked', verdict };
    }
    await tx.query(`SAVEPOINT ${SAVEPOINT}`);
    try {
      if ((await this.streams.recordInInbox(tx, [event.metadata.eventId])).size === 0) {
        await this.streams.finish(tx, event, resolution(stored, 'already handled (inbox)'));
        return { outcome: 'duplicate', verdict };
      }
      const outcome = verdict.kind === 'handle' ? await this.invoke(t, event) : 'ignored';
      await this.streams.finish(tx, event, resolution(stored));
      return { outcome, verdict };
    } catch (thrown) {
      const error = handlerWentOn(thrown);
      if (!(error instanceof HandlerFailed) || error.error instanceof HandlerTimeoutError) throw error;
      await tx.query(`ROLLBACK TO SAVEPOINT ${SAVEPOINT}`);
      return { outcome: await this.failed(tx, incoming, stored, error.error), verdict };
    }
  }

  /** Records the failure of a message whose handler timed out inside a batch (the batch was abandoned). */
  async settleTimedOut(incoming: Incoming, error: HandlerTimeoutError): Promise<Outcome> {
    const outcome = await transaction(this.pool, (t) => this.recordAbandoned(t, incoming, error));
    this.report(incoming, outcome, undefined);
    return outcome;
  }

  /** Carries out an operator's skip: the stream moves past the message (counted as acknowledged to the sender). */
  async skip(stored: StoredMessage): Promise<Outcome> {
    const event = tryDecode(stored.body);
    const outcome = await transaction(this.pool, async ({ client: tx }) => {
      const stream = event ? await this.streams.lockOne(tx, event.metadata.streamId) : undefined;
      const current = await this.stored.read(tx, stored.key, true);
      if (current?.status !== 'skip_requested') return 'busy';
      // An earlier version failed and waits: skipping this one now would move the stream past it.
      // The request stays until that one is settled.
      if (event && stream?.blockedVersion !== null && stream!.blockedVersion! < event.metadata.streamVersion) return 'busy';
      const reason = current.reason ?? 'skipped by operator';
      if (!event) {
        await this.stored.resolveStale(tx, current, reason);
        return 'skipped';
      }
      await this.streams.recordInInbox(tx, [event.metadata.eventId]);
      await this.streams.finish(tx, event, { key: current.key, as: 'skipped', reason });
      return 'skipped';
    });
    this.hooks.settled({ key: stored.key, body: stored.body, brokerId: stored.brokerId, event, origin: 'forced', stored }, outcome, {});
    return outcome;
  }

  /**
   * Parks the lowest held message of a stream whose missing versions did not arrive in time,
   * naming them; decided again under the stream's lock. Resolves `'ready'` when its turn came meanwhile.
   */
  async parkGap(streamId: string, heldVersion: number): Promise<'parked' | 'ready' | 'wait'> {
    return transaction(this.pool, async ({ client: tx }) => {
      const stream = await this.streams.lockOne(tx, streamId);
      const held = await this.stored.nextHeld(tx, streamId);
      if (!held || held.streamVersion !== heldVersion) return 'wait';
      const decision = decideGap(stream, heldVersion, Number.POSITIVE_INFINITY, this.settings.reorderWaitMs);
      if (decision.kind !== 'park') return decision.kind;
      await this.stored.recordFailure(tx, held.key, tryDecode(held.body), held.body, held.brokerId, { status: 'parked', reason: decision.reason, attemptCount: 0, gap: true });
      this.logger.error({ consumer: this.settings.name, streamId, reason: decision.reason }, 'herald: held message parked');
      this.hooks.settled({ key: held.key, body: held.body, brokerId: held.brokerId, event: tryDecode(held.body), origin: 'held', stored: held }, 'parked', { reason: decision.reason });
      return 'parked';
    });
  }

  /** After a timeout: the stream is locked again; record the failure unless something settled the message meanwhile. */
  private async recordAbandoned(t: Transaction, incoming: Incoming, error: HandlerTimeoutError): Promise<Outcome> {
    const event = incoming.event!;
    const stream = await this.streams.lockOne(t.client, event.metadata.streamId);
    const stored = incoming.stored ? await this.stored.read(t.client, incoming.stored.key, true) : undefined;
    if (incoming.stored && !stillExpected(stored, incoming.origin)) return 'busy';
    const decision = decideArrival(stream, event.metadata.streamVersion, incoming.origin, this.settings);
    if (decision.kind === 'duplicate') return 'duplicate';
    if (decision.kind === 'hold') {
      if (!stored) await this.stored.hold(t.client, incoming.key, event, incoming.body, incoming.brokerId);
      return 'held';
    }
    return this.failed(t.client, incoming, stored, error);
  }

  /** Records a handler failure as the error policy decides, inside `tx`. */
  private async failed(tx: pg.PoolClient, incoming: Incoming, stored: StoredMessage | undefined, error: unknown): Promise<Outcome> {
    const event = incoming.event!;
    const failure = nextFailure(stored?.history, error, { type: event.type, createdAt: event.metadata.createdAt }, new Date(), stored?.attemptCount ?? 0);
    const action = await askPolicy(this.settings.policy, error, event as never, failure.context);
    this.hooks.attemptFailed({ consumer: this.settings.name, event, error, failure: failure.context, action });
    const now = failure.context.lastFailedAt;
    const common = {
      error: failure.summary,
      fingerprint: failure.fingerprint,
      attempts: failure.attempts,
      attemptCount: failure.context.attempt,
      failureContext: action.action === 'retry' && action.context ? action.context : failure.context.context,
      firstFailedAt: failure.context.firstFailedAt,
      lastFailedAt: now,
    };
    const record = (status: 'scheduled' | 'parked' | 'skipped', reason: string | null, retryAt: Date | null = null) =>
      this.stored.recordFailure(tx, incoming.key, event, incoming.body, incoming.brokerId, { ...common, status, reason, retryAt });
    switch (action.action) {
      case 'retry':
        await record('scheduled', null, new Date(now.getTime() + action.delayMs));
        return 'scheduled';
      case 'park':
        await record('parked', action.reason ?? `handler failed: ${failure.summary.message}`);
        return 'parked';
      case 'skip':
        await this.streams.recordInInbox(tx, [event.metadata.eventId]);
        await record('skipped', action.reason);
        await this.streams.finish(tx, event, undefined);
        return 'skipped';
      case 'stop':
        // Kept as due at once: whichever process runs the consumer next tries it first.
        await record('scheduled', `stopped by the error policy: ${action.reason}`, now);
        return 'stopped';
    }
  }

  /** Runs the event's handler under the watchdog; a timeout abandons the transaction. Throws {@link HandlerFailed}. */
  private async invoke(t: Transaction, event: ReceivedEvent): Promise<'handled' | 'already-seen'> {
    const handler = this.settings.handlers[event.type]!;
    const timeout = () => new HandlerTimeoutError(this.settings.name, event.metadata.eventNumber, this.settings.handlerTimeoutMs);
    try {
      const returned = await this.hooks.telemetry.span('consumer:handle', { context: this.context, consumer: this.settings.name, event }, async () =>
        this.watchdog.run((signal) => handler(event, event.metadata, { tx: t.tx, consumer: this.settings.name, signal }), timeout),
      );
      return handlerOutcome(returned);
    } catch (error) {
      if (error instanceof HandlerTimeoutError) t.abandon(error);
      throw new HandlerFailed(error);
    }
  }

  private report(incoming: Incoming, outcome: Outcome, verdict: Verdict | undefined): void {
    const detail: { reason?: string; unknownType?: string } = {};
    if (verdict?.kind === 'park') detail.reason = verdict.reason;
    if (outcome === 'ignored' && verdict?.kind === 'ignore' && verdict.unknown) detail.unknownType = incoming.event!.type;
    if (outcome === 'parked' && !incoming.event) detail.reason = incoming.malformed ?? new MalformedMessageError('unreadable').message;
    this.hooks.settled(incoming, outcome, detail);
    if (outcome === 'parked') this.logger.error({ consumer: this.settings.name, key: incoming.key, reason: detail.reason }, 'herald: message parked');
  }
}

/**
 * A handler that caught an SQL error and went on left the transaction aborted (25P02): Herald's
 * next statement fails. That is the handler's failure, not an outage: it meets the policy.
 */
function handlerWentOn(error: unknown): unknown {
  if ((error as { code?: unknown } | null)?.code !== '25P02') return error;
  return new HandlerFailed(new HandlerSqlError(describe(error)));
}

/** A stored row still is what it was when the work was picked (no other process settled it meanwhile). */
function stillExpected(stored: StoredMessage | undefined, origin: ArrivalOrigin): boolean {
  if (!stored) return false;
  if (origin === 'held') return stored.status === 'held';
  if (origin === 'forced') return stored.status === 'retry_requested';
  return stored.status === 'scheduled' && stored.due;
}

function resolution(stored: StoredMessage | undefined, skippedBecause?: string): Resolution | undefined {
  if (!stored) return undefined;
  if (stored.status === 'held') return { key: stored.key, as: 'delete' };
  return skippedBecause ? { key: stored.key, as: 'skipped', reason: skippedBecause } : { key: stored.key, as: 'retried' };
}

function tryDecode(body: Buffer): ReceivedEvent | undefined {
  try {
    return decodeCloudEvent(body);
  } catch {
    return undefined;
  }
}
