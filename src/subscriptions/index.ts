export {
  ALREADY_SEEN,
  type HandleResult,
  type HandlerContext,
  type StartFrom,
  type SubscriptionDefinition,
  type SubscriptionState,
  type SubscriptionStatus,
} from './definition.js';
