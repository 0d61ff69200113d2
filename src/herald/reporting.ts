import type { Logger } from '../runtime/logger.js';
import type { Telemetry } from '../runtime/telemetry.js';
import type { RunnerHooks } from '../subscriptions/hooks.js';
import type { HeraldEvents } from './options.js';

/** Emits one of {@link HeraldEvents}. */
export type Emit = <K extends keyof HeraldEvents>(event: K, payload: HeraldEvents[K]) => void;

/** What a subscription runner reports, turned into Herald's events and log lines. */
export function subscriptionHooks(emit: Emit, logger: Logger, telemetry: Telemetry, progressed: () => void): RunnerHooks {
  return {
    telemetry,
    progress: progressed,
    attemptFailed: (info) => {
      logger.warn(
        { subscription: info.subscription, eventNumber: info.event.metadata.eventNumber, attempt: info.failure.attempt, action: info.action.action, err: info.error },
        'herald: handler failed',
      );
      emit('attemptFailed', info);
    },
    eventParked: (info) => {
      logger.error({ subscription: info.subscription, eventNumber: info.event.metadata.eventNumber, reason: info.reason }, 'herald: event parked');
      emit('eventParked', info);
    },
    eventSkipped: (info) => emit('eventSkipped', info),
    parkedRetried: (info) => emit('parkedRetried', info),
    eventAlreadySeen: (info) => emit('eventAlreadySeen', info),
    subscriptionStopped: (info) => emit('subscriptionStopped', info),
  };
}
