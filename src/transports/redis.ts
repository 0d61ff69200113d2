/**
 * Redis Streams transport (`ioredis`). Import it from `herald/transports/redis`; it is the only
 * module that loads `ioredis`, an optional peer dependency. Needs Redis 6.2 or later (XAUTOCLAIM).
 *
 * Topology, per sending context: one stream for events (`herald:<source>`) and one for acks
 * (`herald:<source>:acks`); each entry holds the fields `id` (message id) and `body`. One consumer
 * group per Herald consumer group, created at the start of the stream: a new group sees the
 * history the stream still holds.
 *
 * **Durability:** Redis answers XADD once the entry is in memory, not on disk. Unless the server
 * runs with `appendonly yes` and `appendfsync always`, a confirmed message can be lost when Redis
 * stops (with the default `appendfsync everysec`, up to about a second of messages). Without
 * persistence at all, a restart loses every stream and group; consumers then recreate their groups
 * and continue with what is published afterwards.
 *
 * Semantics worth knowing:
 * - Redis does not deduplicate: a batch published again is stored again (the inbox drops the copies).
 * - Processes of one group share its entries, so order across processes is not kept; run one
 *   process per group where order matters.
 * - A delivery stays pending until acked. Entries pending for longer than `claimIdleMs` on a
 *   consumer that stopped (a crashed or closed process) are claimed by a live one. A live process
 *   renews its own unsettled entries every third of `claimIdleMs`, so slow handlers are not robbed:
 *   `claimIdleMs` is how fast the entries of a dead process come back, not a handler timeout.
 * - `nack()` makes the entry available again at once: this consumption claims it back and delivers
 *   it again (ahead of new entries). Entries of a closed consumption come back after `claimIdleMs`.
 * - Consumers of the group that have nothing pending and were idle for `2 × claimIdleMs` (at least
 *   a minute) are removed from the group, so restarts do not pile up dead consumer names.
 *
 * `health()`: `connected` is true while the shared connection and every consumption's reading
 * connection are ready; `lastError` is the most recent problem, kept after recovery.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Redis, type RedisOptions as IoRedisOptions } from 'ioredis';
import { describe, TransportError } from '../errors.js';
import type { Logger } from '../runtime/logger.js';
import type { Channel, ConsumeOptions, Consumption, Delivery, OutgoingMessage, Transport, TransportHealth } from './transport.js';
import { Backoff, checkPositiveInteger, closeConsumptions, handOver, positiveOption, Problems, redact, startConsumption } from './support.js';

const KIND = 'redis';
/** How long one blocking read waits for new entries; also bounds how late a nack or claim is served. */
const BLOCK_MS = 1000;

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

interface Settings {
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

function resolve(options: RedisOptions): Settings {
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

/** A connection that fails fast instead of queueing, and reconnects with a capped backoff. */
function createClient(settings: Settings, name: string, commandTimeoutMs: number, onError: (error: Error) => void): Redis {
  const client = new Redis(settings.url, {
    ...settings.client,
    // CLIENT SETNAME refuses spaces and the like; the name is only for CLIENT LIST.
    connectionName: name.replace(/[^\x21-\x7e]/g, '_'),
    lazyConnect: true,
    enableOfflineQueue: false,
    // In-flight commands fail when the connection drops; they are not replayed on the next one.
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    connectTimeout: settings.timeoutMs,
    commandTimeout: commandTimeoutMs,
    retryStrategy: (times) => Math.min(settings.reconnectInitialMs * 2 ** Math.min(times, 16), settings.reconnectMaxMs),
  });
  // ioredis emits 'error' for every failed (re)connection attempt; unheard, it would only warn, but we want it in health.
  client.on('error', onError);
  // Every caller waiting for the connection listens for its next event (see ready()).
  client.setMaxListeners(100);
  return client;
}

/** Resolves once `client` is ready; rejects on the next connection error, or after `timeoutMs`. */
async function ready(client: Redis, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return;
  if (client.status === 'wait') {
    await client.connect();
    return;
  }
  if (client.status === 'end') throw new Error('connection is closed');
  await new Promise<void>((resolve, reject) => {
    const done = (error?: Error) => {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('error', onError);
      client.off('end', onEnd);
      if (error) reject(error);
      else resolve();
    };
    const onReady = () => done();
    const onError = (error: Error) => done(error);
    const onEnd = () => done(new Error('connection is closed'));
    const timer = setTimeout(() => done(new Error(`not connected within ${timeoutMs} ms`)), timeoutMs);
    client.once('ready', onReady);
    client.once('error', onError);
    client.once('end', onEnd);
  });
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

/**
 * Renews this consumer's own pending entries (resets their idle time) without taking over any
 * that another consumer has claimed meanwhile: XPENDING filtered by consumer, then XCLAIM JUSTID.
 * Atomic, so a concurrent XAUTOCLAIM cannot slip in between.
 */
const RENEW_SCRIPT = `
local renewed = 0
for i = 3, #ARGV do
  local mine = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #mine > 0 then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    renewed = renewed + 1
  end
end
return renewed`;

/** A stream entry as read: id and fields (`null` fields: the entry was trimmed or deleted). */
type Entry = { readonly id: string; readonly fields: Buffer[] | null };

/** A consumer group's consumption: one read loop on its own connection, until closed. */
class RedisConsumption {
  private readonly reader: Redis;
  /** Delivered and not yet settled, by entry id. */
  private readonly unsettled = new Set<string>();
  /** Nacked entry ids, claimed back and delivered again before new entries. */
  private readonly nacked: string[] = [];
  private closed = false;
  private loop: Promise<void> | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private wakeGate: (() => void) | undefined;
  private readonly backoff: Backoff;
  /** This consumer's pending entries left by an earlier run under the same name are read first. */
  private recovering = true;
  private recoverFrom = '0';
  private claimCursor = '0-0';
  private nextClaimAt = 0;

  constructor(
    private readonly settings: Settings,
    private readonly options: ConsumeOptions,
    private readonly key: string,
    private readonly consumer: string,
    private readonly onDelivery: (delivery: Delivery) => void,
    private readonly commands: Redis,
    private readonly note: (message: string) => void,
  ) {
    // The blocking read may take BLOCK_MS before Redis answers: allow for it in the command timeout.
    this.reader = createClient(settings, `herald:${consumer}:${options.group}`, BLOCK_MS + settings.timeoutMs, (error) =>
      this.note(`consumer ${key}/${options.group} connection error: ${describe(error)}`),
    );
    this.backoff = new Backoff(settings.reconnectInitialMs, settings.reconnectMaxMs);
  }

  get connected(): boolean {
    return this.reader.status === 'ready';
  }

  /** Connects and creates the group once, so a misconfiguration rejects here; then reads in the background. */
  async start(): Promise<void> {
    try {
      await ready(this.reader, this.settings.timeoutMs);
      await ready(this.commands, this.settings.timeoutMs);
      await this.createGroup();
    } catch (error) {
      this.reader.disconnect();
      const message = `cannot consume ${this.key}/${this.options.group}: ${describe(error)}`;
      this.note(message);
      throw new TransportError(KIND, message, { cause: error });
    }
    this.renewTimer = setInterval(() => void this.renew(), Math.max(Math.floor(this.settings.claimIdleMs / 3), 50));
    this.renewTimer.unref();
    this.loop = this.run();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.renewTimer);
    this.wakeGate?.();
    this.backoff.interrupt();
    // Interrupts the blocking read at once.
    this.reader.disconnect();
    await this.loop;
    // Leave the group tidy when nothing is pending here; otherwise the entries wait for a claim.
    if (this.unsettled.size === 0 && this.nacked.length === 0) {
      try {
        const mine = (await this.commands.xpending(this.key, this.options.group, '-', '+', 1, this.consumer)) as unknown[];
        if (mine.length === 0) await this.commands.xgroup('DELCONSUMER', this.key, this.options.group, this.consumer);
      } catch {
        // Best effort: an idle consumer is removed later by the others.
      }
    }
  }

  private async createGroup(): Promise<void> {
    try {
      await this.reader.xgroup('CREATE', this.key, this.options.group, '0', 'MKSTREAM');
    } catch (error) {
      if (!describe(error).startsWith('BUSYGROUP')) throw error;
    }
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      try {
        const room = this.options.prefetch - this.unsettled.size;
        if (room <= 0) {
          await new Promise<void>((resolve) => (this.wakeGate = resolve));
          this.wakeGate = undefined;
          continue;
        }
        await ready(this.reader, this.settings.timeoutMs);
        this.deliver(await this.next(room));
        this.backoff.reset();
      } catch (error) {
        if (this.closed) break;
        const text = describe(error);
        if (text.startsWith('NOGROUP')) {
          // The stream or group is gone (Redis restarted without persistence, or someone deleted it).
          this.note(`consumer group ${this.key}/${this.options.group} missing; recreating it`);
          try {
            await this.createGroup();
            this.recovering = false;
            this.claimCursor = '0-0';
            continue;
          } catch (again) {
            this.note(`recreating group ${this.key}/${this.options.group} failed: ${describe(again)}`);
          }
        } else {
          this.note(`consumer ${this.key}/${this.options.group} read failed: ${text}; retrying`);
        }
        await this.backoff.wait();
      }
    }
  }

  /** The next entries to deliver, at most `count`: own leftovers, nacked, claimed from dead consumers, then new. */
  private async next(count: number): Promise<{ entries: Entry[]; redelivered: boolean }> {
    const { key, consumer } = this;
    const { group } = this.options;
    if (this.recovering) {
      const entries = streamEntries(await this.reader.callBuffer('XREADGROUP', 'GROUP', group, consumer, 'COUNT', count, 'STREAMS', key, this.recoverFrom));
      const last = entries.at(-1);
      if (last) this.recoverFrom = last.id;
      else this.recovering = false;
      return { entries, redelivered: true };
    }
    if (this.nacked.length > 0) {
      const ids = this.nacked.splice(0, count);
      return { entries: entryList(await this.reader.callBuffer('XCLAIM', key, group, consumer, 0, ...ids)), redelivered: true };
    }
    if (Date.now() >= this.nextClaimAt) {
      const reply = await this.reader.callBuffer('XAUTOCLAIM', key, group, consumer, this.settings.claimIdleMs, this.claimCursor, 'COUNT', count);
      const [cursor, claimed] = reply as [Buffer, unknown];
      this.claimCursor = cursor.toString();
      // A full pass over the pending entries is done: look again in a while.
      if (this.claimCursor === '0-0') {
        this.nextClaimAt = Date.now() + Math.max(Math.floor(this.settings.claimIdleMs / 2), 50);
        void this.removeIdleConsumers();
      }
      const entries = entryList(claimed);
      if (entries.length > 0) return { entries, redelivered: true };
    }
    const reply = await this.reader.callBuffer('XREADGROUP', 'GROUP', group, consumer, 'COUNT', count, 'BLOCK', BLOCK_MS, 'STREAMS', key, '>');
    return { entries: streamEntries(reply), redelivered: false };
  }

  private deliver({ entries, redelivered }: { entries: Entry[]; redelivered: boolean }): void {
    for (const entry of entries) {
      if (this.closed) return;
      // Already in hand here (claimed back from ourselves): it must not be delivered twice at once.
      if (this.unsettled.has(entry.id)) continue;
      if (entry.fields === null) {
        // Trimmed or deleted before it was read: nothing to deliver, drop it from the pending list.
        void this.commands.xack(this.key, this.options.group, entry.id).catch(() => undefined);
        continue;
      }
      this.unsettled.add(entry.id);
      this.deliverOne(entry.id, field(entry.fields, 'body') ?? Buffer.alloc(0), redelivered);
    }
  }

  private deliverOne(id: string, body: Buffer, redelivered: boolean): void {
    const settle = async (ack: boolean): Promise<void> => {
      if (ack) {
        try {
          await this.commands.xack(this.key, this.options.group, id);
        } catch (error) {
          // Still pending: it comes back after claimIdleMs and the inbox drops the duplicate.
          this.settings.logger?.debug({ transport: KIND, id, error: describe(error) }, 'XACK failed; the entry will be claimed again');
        }
      } else if (!this.closed) {
        this.nacked.push(id);
      }
      this.unsettled.delete(id);
      this.wakeGate?.();
    };
    handOver({ body, brokerId: id, redelivered }, settle, this.onDelivery, (error) => {
      this.settings.logger?.error({ transport: KIND, id, error: describe(error) }, 'onDelivery threw; entry given back');
    });
  }

  /** Keeps this consumer's unsettled entries from looking idle, so no other consumer claims them. */
  private async renew(): Promise<void> {
    if (this.closed || this.unsettled.size === 0 || this.commands.status !== 'ready') return;
    try {
      await this.commands.eval(RENEW_SCRIPT, 1, this.key, this.options.group, this.consumer, ...this.unsettled);
    } catch (error) {
      this.settings.logger?.debug({ transport: KIND, error: describe(error) }, 'renewing pending entries failed');
    }
  }

  /** Removes consumers of the group with nothing pending that have been idle for long: crashed or closed processes. */
  private async removeIdleConsumers(): Promise<void> {
    const idleMs = Math.max(2 * this.settings.claimIdleMs, 60_000);
    try {
      const consumers = (await this.commands.xinfo('CONSUMERS', this.key, this.options.group)) as unknown[][];
      for (const info of consumers) {
        const fields = new Map<string, unknown>();
        for (let i = 0; i + 1 < info.length; i += 2) fields.set(String(info[i]), info[i + 1]);
        const name = String(fields.get('name'));
        if (name !== this.consumer && Number(fields.get('pending')) === 0 && Number(fields.get('idle')) >= idleMs) {
          await this.commands.xgroup('DELCONSUMER', this.key, this.options.group, name);
        }
      }
    } catch (error) {
      this.settings.logger?.debug({ transport: KIND, error: describe(error) }, 'removing idle consumers failed');
    }
  }
}

/** Parses an XREADGROUP reply (`[[key, entries]]` or null) into entries. */
function streamEntries(reply: unknown): Entry[] {
  if (!Array.isArray(reply) || reply.length === 0) return [];
  const [stream] = reply as [[Buffer, unknown]];
  return entryList(stream[1]);
}

/** Parses a list of `[id, fields]` (fields `null` for a deleted entry). */
function entryList(list: unknown): Entry[] {
  if (!Array.isArray(list)) return [];
  return (list as [Buffer, Buffer[] | null][]).filter(Array.isArray).map(([id, fields]) => ({ id: id.toString(), fields: Array.isArray(fields) ? fields : null }));
}

function field(fields: Buffer[], name: string): Buffer | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i]!.toString() === name) return fields[i + 1];
  return undefined;
}


