import type { ConsumerDefinition } from '../consumers/definition.js';
import type { EventDefinition } from '../events/define.js';
import type { ErrorPolicy } from '../handlers/policy.js';
import type { InboxOptions } from '../inbox/inbox.js';
import type { OutboxRelayOptions } from '../outbox/options.js';
import type { SequencerOptions } from '../log/sequencer.js';
import type { RelayOptions } from '../relay/options.js';
import type { SubscriptionDefinition } from '../subscriptions/definition.js';
import type { NatsOptions } from '../transports/nats/options.js';
import type { RabbitMqOptions } from '../transports/rabbitmq/options.js';
import type { RedisOptions } from '../transports/redis/options.js';
import type { Transport } from '../transports/transport.js';

/**
 * A value given in the config file itself, or a reference to a module's export:
 * `'./handlers/billing.js#charge'` (relative to the config file; `#default` when no `#`).
 * YAML files can only use references for functions.
 */
export type Ref<T> = T | string;

/** A database Herald connects to. With no `url`, an embedded PostgreSQL (development only). */
export interface DatabaseConfig {
  /** Connection string. In YAML, `${DATABASE_URL}` (or `${VAR:-default}`) reads the environment. */
  readonly url?: string;
  /** Pool size. Default 10. */
  readonly poolSize?: number;
  /** Data folder of the embedded PostgreSQL when no `url` is given. Default `.herald/postgres`. */
  readonly dataDir?: string;
}

/** A broker, declared: the transport is created from these options (only data options in YAML). */
export type TransportConfig =
  | Transport
  | ({ readonly broker: 'rabbitmq' } & RabbitMqOptions)
  | ({ readonly broker: 'nats' } & NatsOptions)
  | ({ readonly broker: 'redis' } & RedisOptions);

/** The brokers a config file can name. */
export const BROKERS = ['rabbitmq', 'nats', 'redis'] as const;

export interface SubscriptionConfig extends Omit<SubscriptionDefinition, 'handle' | 'onError' | 'init'> {
  readonly handle: Ref<SubscriptionDefinition['handle']>;
  readonly onError?: Ref<ErrorPolicy>;
  readonly init?: Ref<() => Promise<void> | void>;
}

export interface RelayConfig extends Omit<RelayOptions, 'transport'> {
  readonly transport: TransportConfig;
}

/** An application's own outbox table, relayed to a broker (see `herald.relayOutbox()`). */
export interface OutboxConfig extends Omit<OutboxRelayOptions, 'transport'> {
  readonly transport: TransportConfig;
}

export interface ConsumerConfig extends Omit<ConsumerDefinition, 'transport' | 'handlers' | 'onError' | 'events'> {
  readonly transport: TransportConfig;
  /** Handler per event type, or a reference to a module exporting that object. */
  readonly handlers: Ref<ConsumerDefinition['handlers']>;
  readonly onError?: Ref<ErrorPolicy>;
  readonly events?: Ref<readonly EventDefinition[]>;
}

/** One bounded context: its log lives in the PostgreSQL schema of its name. */
export interface ContextConfig {
  readonly name: string;
  /** Key in `databases`. Default `'default'`. */
  readonly database?: string;
  /** Event definitions (schemas) appends are validated against. */
  readonly events?: Ref<readonly EventDefinition[]>;
  readonly leaseTtlMs?: number;
  readonly pollMs?: number;
  readonly sequencer?: boolean | SequencerOptions;
  readonly inbox?: InboxOptions;
  readonly subscriptions?: readonly SubscriptionConfig[];
  readonly relays?: readonly RelayConfig[];
  readonly consumers?: readonly ConsumerConfig[];
  /** The application's own outbox tables this context relays (bring-your-own outbox). */
  readonly outboxes?: readonly OutboxConfig[];
}

/** A user of the admin panel. */
export interface AdminUserConfig {
  readonly name: string;
  /** From `herald admin hash-password` (scrypt). In YAML, `${ADMIN_PASSWORD_HASH}` keeps it out of the file. */
  readonly passwordHash: string;
  readonly role: 'viewer' | 'operator';
}

export interface AdminConfig {
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 8080. */
  readonly port?: number;
  readonly users?: readonly AdminUserConfig[];
  /** Serve without login; refused unless bound to localhost. Default false. */
  readonly allowUnauthenticatedLocalhost?: boolean;
}

export interface MetricsConfig {
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 9464. */
  readonly port?: number;
}

/** The whole config file: what `herald start` runs and every other command reads. */
export interface HeraldConfig {
  /** Databases by name; contexts use `'default'` unless they name one. */
  readonly databases?: Readonly<Record<string, DatabaseConfig>>;
  readonly contexts: readonly ContextConfig[];
  readonly admin?: AdminConfig;
  readonly metrics?: MetricsConfig;
}

/** Types a `herald.config.ts`: `export default defineConfig({ … })`. */
export function defineConfig(config: HeraldConfig): HeraldConfig {
  return config;
}
