export { relaySubscription, type RelayOptions, type RelayHandle } from './relay.js';
