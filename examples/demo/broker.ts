/**
 * The broker between the contexts, when one is asked for (`--broker`, `HERALD_DEMO_BROKER`) and
 * reachable: a Herald transport per context, and the broker state of earlier runs removed (each
 * run starts its logs from scratch, so old messages would look like other events of the same
 * streams).
 */
import type { Transport } from '../../src/index.js';

export const BROKERS = ['rabbitmq', 'nats', 'redis'] as const;
export type BrokerKind = (typeof BROKERS)[number];

/** Where each broker is looked for (override with RABBITMQ_URL or AMQP_URL, NATS_URL, REDIS_URL). */
export function brokerUrl(kind: BrokerKind): string {
  if (kind === 'rabbitmq') return process.env.RABBITMQ_URL ?? process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
  if (kind === 'nats') return process.env.NATS_URL ?? '127.0.0.1:4222';
  return process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
}

/** The broker's URL without its credentials, for printing. */
export function shownUrl(kind: BrokerKind): string {
  return brokerUrl(kind).replace(/\/\/[^@/]*@/, '//');
}

/** Who reads what from the broker: the consumer groups of each sending context. */
export type Groups = Readonly<Record<string, readonly string[]>>;

/** Whether the broker answers (AMQP handshake, JetStream API, PING) within a couple of seconds; the reason when not. */
export async function probe(kind: BrokerKind): Promise<string | undefined> {
  const url = brokerUrl(kind);
  try {
    if (kind === 'rabbitmq') {
      const { connect } = await import('amqplib');
      const connection = await connect(url, { timeout: 2000 });
      connection.on('error', () => {});
      await connection.close();
    } else if (kind === 'nats') {
      const { connect } = await import('@nats-io/transport-node');
      const { jetstreamManager } = await import('@nats-io/jetstream');
      const nc = await connect({ servers: url, timeout: 2000, reconnect: false });
      try {
        await (await jetstreamManager(nc, { timeout: 2000 })).getAccountInfo();
      } finally {
        await nc.close();
      }
    } else {
      const { Redis } = await import('ioredis');
      const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 2000, retryStrategy: () => null });
      client.on('error', () => {});
      try {
        await client.connect();
        await client.ping();
      } finally {
        client.disconnect();
      }
    }
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message || error.name : String(error);
  }
}

/**
 * A transport for one context's relay and consumers. `quickRedelivery` (the chaos run) has a dead
 * process's unacknowledged messages delivered again after 3 s instead of 30.
 */
export async function createTransport(kind: BrokerKind, groups: Groups, quickRedelivery: boolean): Promise<Transport> {
  const url = brokerUrl(kind);
  if (kind === 'rabbitmq') {
    const { rabbitmq } = await import('../../src/transports/rabbitmq.js');
    // An exchange drops what no queue is bound for: declare the consumers' queues before the first publish.
    return rabbitmq({ url, declareGroups: (source, channel) => (channel === 'events' ? (groups[source] ?? []) : ['sender']) });
  }
  if (kind === 'nats') {
    const { nats } = await import('../../src/transports/nats.js');
    return nats({ servers: url, ...(quickRedelivery ? { ackWaitMs: 3000 } : {}) });
  }
  const { redis } = await import('../../src/transports/redis.js');
  return redis({ url, ...(quickRedelivery ? { claimIdleMs: 3000 } : {}) });
}

/** Deletes what earlier runs left on the broker under the default names: queues and exchanges, streams, keys. */
export async function resetBroker(kind: BrokerKind, groups: Groups): Promise<void> {
  const url = brokerUrl(kind);
  const sources = Object.keys(groups);
  if (kind === 'rabbitmq') {
    const { connect } = await import('amqplib');
    const connection = await connect(url, { timeout: 5000 });
    connection.on('error', () => {});
    try {
      const channel = await connection.createChannel();
      for (const source of sources) {
        for (const group of groups[source]!) await channel.deleteQueue(`herald.${source}.${group}`);
        await channel.deleteQueue(`herald.${source}.acks.sender`);
        await channel.deleteExchange(`herald.${source}`);
        await channel.deleteExchange(`herald.${source}.acks`);
      }
    } finally {
      await connection.close();
    }
  } else if (kind === 'nats') {
    const { connect } = await import('@nats-io/transport-node');
    const { jetstreamManager } = await import('@nats-io/jetstream');
    const nc = await connect({ servers: url, timeout: 5000 });
    try {
      const jsm = await jetstreamManager(nc);
      for (const source of sources) {
        const stream = `HERALD_${source.toUpperCase().replace(/[^A-Z0-9_-]/g, '_')}`;
        for (const name of [stream, `${stream}_ACKS`]) await jsm.streams.delete(name).catch(() => false);
      }
    } finally {
      await nc.close();
    }
  } else {
    const { Redis } = await import('ioredis');
    const client = new Redis(url, { maxRetriesPerRequest: 1 });
    client.on('error', () => {});
    try {
      for (const source of sources) await client.del(`herald:${source}`, `herald:${source}:acks`);
    } finally {
      client.disconnect();
    }
  }
}
