/**
 * What a config file describes, opened: one pool per database, one Herald per context. `herald
 * start` registers the workers (subscriptions, relays, consumers) and runs them; the other
 * commands only read and request. One shutdown path: stop the Heralds, close the brokers, then the
 * databases (each waits for its sockets; an embedded server stops last).
 */
import { openDatabase, type Database } from '../database/index.js';
import { ConfigError } from '../errors.js';
import { assertMigrated } from '../schema/migrate.js';
import { createHerald, type Herald } from '../herald.js';
import type { Logger } from '../runtime/logger.js';
import type { SubscriptionDefinition } from '../subscriptions/definition.js';
import type { ConsumerDefinition } from '../consumers/definition.js';
import type { Transport } from '../transports/transport.js';
import type { HeraldConfig, TransportConfig } from './types.js';

export interface OpenAppOptions {
  /** Overrides the URL of every database (the CLI's `--database-url`). */
  readonly databaseUrl?: string;
  readonly logger?: Logger;
  /** Only these contexts (default: all). */
  readonly contexts?: readonly string[];
}

/** The opened config. */
export interface HeraldApp {
  readonly config: HeraldConfig;
  /** Herald per context name, in config order. */
  readonly heralds: ReadonlyMap<string, Herald>;
  /** The Herald of `context`; throws `ConfigError` naming the known ones. */
  herald(context: string): Herald;
  /** Migrates every context. */
  migrate(): Promise<void>;
  /** Throws `NotMigratedError` for the first context whose tables are missing or old. */
  checkMigrated(): Promise<void>;
  /** Registers every configured subscription, relay and consumer (creating broker transports). */
  register(): Promise<void>;
  start(): Promise<void>;
  /** Stops everything and closes brokers and databases. Calling it again returns the same promise. */
  close(): Promise<void>;
}

/** Opens the databases and creates the Heralds of a checked config. */
export async function openApp(config: HeraldConfig, options: OpenAppOptions = {}): Promise<HeraldApp> {
  const databases = new Map<string, Database>();
  const heralds = new Map<string, Herald>();
  const transports: Transport[] = [];
  const wanted = config.contexts.filter((c) => !options.contexts || options.contexts.includes(c.name));
  for (const name of options.contexts ?? []) {
    if (!config.contexts.some((c) => c.name === name)) throw new ConfigError(`unknown context "${name}" (the config has ${config.contexts.map((c) => c.name).join(', ')})`);
  }
  let closing: Promise<void> | undefined;
  const close = async () => {
    await Promise.allSettled([...heralds.values()].map((h) => h.stop()));
    await Promise.allSettled(transports.map((t) => t.close()));
    await Promise.allSettled([...databases.values()].map((db) => db.close()));
  };
  try {
    for (const context of wanted) {
      const key = context.database ?? 'default';
      let db = databases.get(key);
      if (!db) {
        const settings = config.databases?.[key] ?? {};
        db = await openDatabase({ url: options.databaseUrl ?? settings.url, poolSize: settings.poolSize, dataDir: settings.dataDir });
        databases.set(key, db);
      }
      heralds.set(
        context.name,
        createHerald({
          pool: db.pool,
          context: context.name,
          events: context.events as never,
          leaseTtlMs: context.leaseTtlMs,
          pollMs: context.pollMs,
          sequencer: context.sequencer,
          inbox: context.inbox,
          logger: options.logger,
        }),
      );
    }
  } catch (error) {
    await close();
    throw error;
  }
  const app: HeraldApp = {
    config,
    heralds,
    herald(context) {
      const found = heralds.get(context);
      if (!found) throw new ConfigError(`unknown context "${context}" (known: ${[...heralds.keys()].join(', ')})`);
      return found;
    },
    async migrate() {
      for (const herald of heralds.values()) await herald.migrate();
    },
    async checkMigrated() {
      for (const context of wanted) await assertMigrated(databases.get(context.database ?? 'default')!.pool, context.name);
    },
    async register() {
      for (const context of wanted) {
        const herald = heralds.get(context.name)!;
        for (const s of context.subscriptions ?? []) herald.subscribe(s as SubscriptionDefinition);
        for (const r of context.relays ?? []) herald.relay({ ...r, transport: await transportOf(r.transport, transports, options.logger) });
        for (const c of context.consumers ?? []) {
          herald.consume({ ...c, transport: await transportOf(c.transport, transports, options.logger) } as ConsumerDefinition);
        }
        for (const o of context.outboxes ?? []) herald.relayOutbox({ ...o, transport: await transportOf(o.transport, transports, options.logger) });
      }
    },
    async start() {
      for (const herald of heralds.values()) await herald.start();
    },
    close() {
      closing ??= close();
      return closing;
    },
  };
  return app;
}

/** A transport built in code is used as it is; a declared one is created (and closed by the app). */
async function transportOf(config: TransportConfig, created: Transport[], logger: Logger | undefined): Promise<Transport> {
  if (!('broker' in config)) return config;
  const { broker, ...options } = config;
  let transport: Transport;
  if (broker === 'rabbitmq') transport = (await import('../transports/rabbitmq.js')).rabbitmq({ logger, ...options });
  else if (broker === 'nats') transport = (await import('../transports/nats.js')).nats({ logger, ...options });
  else transport = (await import('../transports/redis.js')).redis({ logger, ...options });
  created.push(transport);
  return transport;
}
