export {
  retry,
  skip,
  park,
  stop,
  defaultErrorPolicy,
  backoffDelay,
  fingerprint,
  type ErrorAction,
  type ErrorPolicy,
  type FailureContext,
  type RetryOptions,
} from './policy.js';
