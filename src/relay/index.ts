export { Relay, type RelayHandle, type RelayHooks } from './relay.js';
export { type RelayOptions, type RefusalPolicy } from './options.js';
export type { RelayMessage } from './page.js';
export { isRefusal } from './refusals.js';
