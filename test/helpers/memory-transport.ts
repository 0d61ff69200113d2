import { TransportError } from '../../src/errors.js';
import type { Channel, ConsumeOptions, Consumption, Delivery, OutgoingMessage, Transport } from '../../src/transports/transport.js';

interface Queued {
  readonly body: Buffer;
  readonly brokerId: string;
  redelivered: boolean;
}

/** One consumer group's queue: what waits, what is out, who reads it. */
class GroupQueue {
  readonly waiting: Queued[] = [];
  unsettled = 0;
  acked = 0;
  nacked = 0;
  reader: { prefetch: number; onDelivery(delivery: Delivery): void } | undefined;
}

/**
 * A broker in memory for tests that need no real one: messages published to a channel of a
 * source go to every consumer group of it, in publish order (groups created later get the whole
 * history), at most `prefetch` unsettled per group; a nack (or a closed consumption) puts a
 * message back at the head, flagged redelivered. Tests choose the order by publishing, or with
 * {@link inject} for raw bodies.
 */
export class MemoryBroker {
  private readonly history = new Map<string, Queued[]>();
  private readonly groups = new Map<string, GroupQueue>();
  private next = 0;
  /** While true, publishing and consuming fail as if the broker were down. */
  down = false;

  publish(channel: Channel, source: string, bodies: readonly Buffer[]): void {
    if (this.down) throw new TransportError('memory', 'broker down');
    const key = `${channel}/${source}`;
    const log = this.history.get(key) ?? [];
    this.history.set(key, log);
    for (const body of bodies) {
      const message = { body, brokerId: String(++this.next), redelivered: false };
      log.push(message);
      for (const [groupKey, group] of this.groups) if (groupKey.startsWith(`${key}/`)) group.waiting.push({ ...message });
    }
    for (const [groupKey, group] of this.groups) if (groupKey.startsWith(`${key}/`)) this.pump(group);
  }

  /** Publishes a raw body to the `events` channel of `source` (malformed messages, chosen order). */
  inject(source: string, body: string | Buffer): void {
    this.publish('events', source, [Buffer.isBuffer(body) ? body : Buffer.from(body)]);
  }

  group(channel: Channel, source: string, group: string): GroupQueue {
    const key = `${channel}/${source}/${group}`;
    let queue = this.groups.get(key);
    if (!queue) {
      queue = new GroupQueue();
      queue.waiting.push(...(this.history.get(`${channel}/${source}`) ?? []).map((m) => ({ ...m })));
      this.groups.set(key, queue);
    }
    return queue;
  }

  attach(options: ConsumeOptions, onDelivery: (delivery: Delivery) => void): Consumption {
    if (this.down) throw new TransportError('memory', 'broker down');
    const queue = this.group(options.channel, options.source, options.group);
    const reader = { prefetch: options.prefetch, onDelivery };
    queue.reader = reader;
    setImmediate(() => this.pump(queue));
    return {
      close: async () => {
        if (queue.reader === reader) queue.reader = undefined;
      },
    };
  }

  private pump(queue: GroupQueue): void {
    const reader = queue.reader;
    while (reader && queue.reader === reader && queue.unsettled < reader.prefetch && queue.waiting.length > 0) {
      const message = queue.waiting.shift()!;
      queue.unsettled++;
      let settled = false;
      const settle = (requeue: boolean) => {
        if (settled) return Promise.resolve();
        settled = true;
        queue.unsettled--;
        if (requeue) {
          queue.nacked++;
          queue.waiting.unshift({ ...message, redelivered: true });
        } else queue.acked++;
        setImmediate(() => this.pump(queue));
        return Promise.resolve();
      };
      reader.onDelivery({
        body: message.body,
        brokerId: message.brokerId,
        redelivered: message.redelivered,
        ack: () => settle(false),
        nack: () => settle(true),
      });
    }
  }
}

/** A {@link Transport} over a {@link MemoryBroker}; give two transports the same broker to connect them. */
export class MemoryTransport implements Transport {
  readonly kind = 'memory';

  constructor(readonly broker: MemoryBroker = new MemoryBroker()) {}

  async publish(channel: Channel, messages: readonly OutgoingMessage[]): Promise<void> {
    this.broker.publish(channel, messages[0]?.source ?? '', messages.map((m) => m.body));
  }

  async consume(options: ConsumeOptions, onDelivery: (delivery: Delivery) => void): Promise<Consumption> {
    return this.broker.attach(options, onDelivery);
  }

  health() {
    return { connected: !this.broker.down, lastError: this.broker.down ? 'broker down' : null };
  }

  async close(): Promise<void> {}
}
