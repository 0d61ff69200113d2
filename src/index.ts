/**
 * Herald: reliable event-based communication between bounded contexts on PostgreSQL.
 * @packageDocumentation
 */
export { Herald, createHerald, type HeraldOptions, type HeraldEvents, type LogStatus } from './herald.js';
export * from './errors.js';
export * from './events/index.js';
export type { AppendOptions, AppendResult, ExpectedVersion, OpenAppend } from './log/index.js';
export * from './subscriptions/index.js';
export { type SqlExecutor, pgExecutor } from './sql/index.js';
export { migrate, type MigrateResult } from './schema/migrate.js';
export { openDatabase, startEmbeddedPostgres, type Database, type CloseOptions, type OpenDatabaseOptions, type EmbeddedServer } from './database/index.js';
export type { Logger } from './runtime/logger.js';
export type { Telemetry, TelemetrySpans, TelemetryEvent, SpanName, SpanEvent, SpanWrapper, MetadataEnricher } from './runtime/telemetry.js';
export * from './handlers/index.js';
export * from './parking/index.js';
export * from './inbox/index.js';
export * from './relay/index.js';
export * from './outbox/index.js';
export * from './consumers/index.js';
export * from './deliveries/index.js';
export * from './domain/index.js';
export type { Transport, Channel, OutgoingMessage, Delivery, ConsumeOptions, Consumption, TransportHealth } from './transports/transport.js';
export { encodeCloudEvent, decodeCloudEvent, CONTENT_TYPE, type ReceivedEvent, type ReceivedMetadata } from './transports/cloudevents.js';
export * from './operations/index.js';
export { createAdminPanel, hashPassword, type AdminPanel, type AdminPanelOptions, type AdminUser, type AdminContext } from './admin/index.js';
