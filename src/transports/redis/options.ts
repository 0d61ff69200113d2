import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { RedisOptions as IoRedisOptions } from 'ioredis';
import type { Logger } from '../../runtime/logger.js';
import { checkPositiveInteger, positiveOption } from '../support.js';
import type { Channel } from '../transport.js';

/** The transport's kind, in errors and logs. */
export const KIND = 'redis';

/** Options of {@link redis}. Every function option must return the same value for the same input in every process. */
export interface RedisOptions {
  /** Redis URL. Default `'redis://127.0.0.1:6379'`. */
  readonly url?: string;
  /**
   * More ioredis options (TLS, `username`, `keyPrefix`, …). What the URL sets (host, port,
   * password, db) wins over the same option here. Herald sets
   * `lazyConnect`, `enableOfflineQueue`, `maxRetriesPerRequest`, `commandTimeout` and
   * `autoResendUnfulfilledCommands` itself, so that no command waits on a dead connection.
   */
  readonly client?: IoRedisOptions;
  /** Stream key of a context's channel. Default `herald:<source>` for events, `herald:<source>:acks` for acks. */
  readonly key?: (source: string, channel: Channel) => string;
  /** How long an entry stays pending on a consumer that stopped renewing it before another takes it over. Default 30 000 ms. */
  readonly claimIdleMs?: number;
  /** This process's consumer name in the groups. Default `<hostname>:<pid>:<random>`. */
  readonly consumerName?: string;
  /** Trims each stream to about this many entries on publish (`MAXLEN ~`). Default: no trimming. Trimmed entries are gone even if a group did not read them. */
  readonly maxLen?: number;
  /** Connect and command timeout: how long `publish()` may wait for Redis. Default 5000 ms. */
  readonly timeoutMs?: number;
  /** Consumer retry backoff after an error: first delay and cap, doubling in between. Default 100 ms to 5000 ms. */
  readonly reconnectMs?: { readonly initial?: number; readonly max?: number };
  /** Where connection problems are reported. Default: nowhere. */
  readonly logger?: Logger;
}

/** The options with every default applied. */
export interface Settings {
  readonly url: string;
  readonly client: IoRedisOptions;
  readonly key: (source: string, channel: Channel) => string;
  readonly claimIdleMs: number;
  readonly consumerName: string;
  readonly maxLen: number | undefined;
  readonly timeoutMs: number;
  readonly reconnectInitialMs: number;
  readonly reconnectMaxMs: number;
  readonly logger: Logger | undefined;
}

/** Applies the defaults; a `TransportError` for an invalid option. */
export function resolve(options: RedisOptions): Settings {
  if (options.maxLen !== undefined) checkPositiveInteger(KIND, options.maxLen, 'maxLen');
  return {
    url: options.url ?? 'redis://127.0.0.1:6379',
    client: options.client ?? {},
    key: options.key ?? ((source, channel) => (channel === 'events' ? `herald:${source}` : `herald:${source}:acks`)),
    claimIdleMs: positiveOption(KIND, options.claimIdleMs, 30_000, 'claimIdleMs'),
    consumerName: options.consumerName ?? `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`,
    maxLen: options.maxLen,
    timeoutMs: positiveOption(KIND, options.timeoutMs, 5000, 'timeoutMs'),
    reconnectInitialMs: positiveOption(KIND, options.reconnectMs?.initial, 100, 'reconnectMs.initial'),
    reconnectMaxMs: positiveOption(KIND, options.reconnectMs?.max, 5000, 'reconnectMs.max'),
    logger: options.logger,
  };
}
