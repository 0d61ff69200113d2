import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { describe, TransportError } from '../../errors.js';
import { checkPositiveInteger, closeConsumptions, Problems, redact, startConsumption } from '../support.js';
import type { Channel, ConsumeOptions, Consumption, Delivery, OutgoingMessage, Transport, TransportHealth } from '../transport.js';
import { createClient, ready } from './connection.js';
import { RedisConsumption } from './consume.js';
import { KIND, type RedisOptions, resolve, type Settings } from './options.js';

/**
 * A transport over Redis Streams. One connection for publishing and settling, plus one per
 * consumption for its blocking reads. ioredis reconnects by itself; commands never queue while
 * disconnected, they fail and are retried by Herald.
 *
 * @example
 * ```ts
 * import { redis } from 'herald/transports/redis';
 * const transport = redis({ url: process.env.REDIS_URL });
 * ```
 */
export function redis(options: RedisOptions = {}): Transport {
  return new RedisTransport(resolve(options));
}

class RedisTransport implements Transport {
  readonly kind = KIND;
  private commands: Redis | undefined;
  private readonly consumptions = new Set<RedisConsumption>();
  /** Consumer names in use by this transport's consumptions, per stream and group. */
  private readonly names = new Set<string>();
  private readonly problems: Problems;
  private closed = false;

  constructor(private readonly settings: Settings) {
    this.problems = new Problems(KIND, settings.logger);
  }

  async publish(channel: Channel, messages: readonly OutgoingMessage[]): Promise<void> {
    if (this.closed) throw new TransportError(KIND, 'transport is closed');
    if (messages.length === 0) return;
    const { settings } = this;
    const client = this.client();
    try {
      await ready(client, settings.timeoutMs);
    } catch (error) {
      throw this.problems.failure(`cannot connect to ${redact(settings.url)}: ${describe(error)}`, error);
    }
    // One pipeline, every XADD in flight at once; each reply is that entry's confirmation.
    const pipeline = client.pipeline();
    for (const m of messages) {
      const key = settings.key(m.source, channel);
      if (settings.maxLen === undefined) pipeline.xadd(key, '*', 'id', m.id, 'body', m.body);
      else pipeline.xadd(key, 'MAXLEN', '~', settings.maxLen, '*', 'id', m.id, 'body', m.body);
    }
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await pipeline.exec();
    } catch (error) {
      throw this.problems.failure(`publish failed: ${describe(error)}`, error);
    }
    if (replies === null || replies.length !== messages.length) throw this.problems.failure('publish failed: no reply for the pipeline', undefined);
    const failed = replies.filter(([error, id]) => error !== null || typeof id !== 'string');
    if (failed.length > 0) {
      const first = failed[0]![0];
      throw this.problems.failure(`${failed.length} of ${messages.length} messages not stored: ${first ? describe(first) : 'no entry id'}`, first ?? undefined);
    }
  }

  async consume(options: ConsumeOptions, onDelivery: (delivery: Delivery) => void): Promise<Consumption> {
    if (this.closed) throw new TransportError(KIND, 'transport is closed');
    checkPositiveInteger(KIND, options.prefetch, 'prefetch');
    const key = this.settings.key(options.source, options.channel);
    // Two consumptions of one group in this process need two consumer names, or they would read each other's pending entries.
    let consumer = this.settings.consumerName;
    for (let n = 2; this.names.has(`${key}\n${options.group}\n${consumer}`); n++) consumer = `${this.settings.consumerName}#${n}`;
    const name = `${key}\n${options.group}\n${consumer}`;
    this.names.add(name);
    const consumption = new RedisConsumption(this.settings, options, key, consumer, onDelivery, this.client(), (message) => this.problems.note(message));
    return startConsumption(this.consumptions, consumption, () => this.names.delete(name));
  }

  health(): TransportHealth {
    const needed = [...this.consumptions].map((c) => c.connected);
    if (this.commands) needed.push(this.commands.status === 'ready');
    return { connected: needed.length > 0 && needed.every(Boolean), lastError: this.problems.last };
  }

  async close(): Promise<void> {
    this.closed = true;
    await closeConsumptions(this.consumptions);
    // disconnect() rejects whatever is still in flight.
    this.commands?.disconnect();
  }

  /** The shared connection for publishing, settling and group management. */
  private client(): Redis {
    this.commands ??= createClient(this.settings, `herald:${hostname()}:${process.pid}`, this.settings.timeoutMs, (error) =>
      this.problems.note(`connection error: ${describe(error)}`),
    );
    return this.commands;
  }

}
