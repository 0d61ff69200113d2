export { type OutboxColumns, type OutboxRelayOptions, DEFAULT_OUTBOX_COLUMNS } from './options.js';
export type { OutboxStatus } from './source.js';
export type { OutboxRelayHandle } from './handle.js';
export { type OutboxBacklog, readBacklog } from './backlog.js';
export { intoLog, type LogTarget } from './into-log.js';
