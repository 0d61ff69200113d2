export {
  ALREADY_SEEN,
  type HandleResult,
  type HandlerContext,
  type StartFrom,
  type SubscriptionDefinition,
  type SubscriptionHealth,
  type SubscriptionState,
  type SubscriptionStatus,
} from './definition.js';
export type { ControlEvents, PauseOutcome, ResetOutcome, ResetTarget, SubscriptionControl, WaitOptions } from './control.js';
