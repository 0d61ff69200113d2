import type { Redis } from 'ioredis';
import { describe, TransportError } from '../../errors.js';
import { Backoff, handOver } from '../support.js';
import type { ConsumeOptions, Delivery } from '../transport.js';
import { createClient, ready } from './connection.js';
import { type Entry, entryList, field, streamEntries } from './entries.js';
import { createGroup, leaveGroup, type Member, removeIdleConsumers, renewPending } from './group.js';
import { KIND, type Settings } from './options.js';

/** How long one blocking read waits for new entries; also bounds how late a nack or claim is served. */
const BLOCK_MS = 1000;

/** A consumer group's consumption: one read loop on its own connection, until closed. */
export class RedisConsumption {
  private readonly reader: Redis;
  private readonly member: Member;
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
    this.member = { key, group: options.group, consumer };
  }

  get connected(): boolean {
    return this.reader.status === 'ready';
  }

  /** Connects and creates the group once, so a misconfiguration rejects here; then reads in the background. */
  async start(): Promise<void> {
    try {
      await ready(this.reader, this.settings.timeoutMs);
      await ready(this.commands, this.settings.timeoutMs);
      await createGroup(this.reader, this.key, this.options.group);
    } catch (error) {
      this.reader.disconnect();
      const message = `cannot consume ${this.key}/${this.options.group}: ${describe(error)}`;
      this.note(message);
      throw new TransportError(KIND, message, { cause: error });
    }
    this.renewTimer = setInterval(() => {
      if (!this.closed) void renewPending(this.commands, this.member, this.unsettled, this.settings);
    }, Math.max(Math.floor(this.settings.claimIdleMs / 3), 50));
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
    if (this.unsettled.size === 0 && this.nacked.length === 0) await leaveGroup(this.commands, this.member);
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
            await createGroup(this.reader, this.key, this.options.group);
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
        void removeIdleConsumers(this.commands, this.member, this.settings);
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
}
