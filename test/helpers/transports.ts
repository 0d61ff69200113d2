import type { Transport } from '../../src/transports/transport.js';

export type BrokerKind = 'rabbitmq' | 'nats' | 'redis';

/** Settings a test passes to a transport (kept JSON so fixtures in other processes can rebuild it). */
export interface TransportConfig {
  kind: BrokerKind;
  /** Redis URL override (a private server for broker-down tests). */
  url?: string;
  /** NATS consumer ack wait, Redis claim idle: how soon a dead consumer's messages come back. */
  redeliverAfterMs?: number;
}

/** Builds a transport; imports only the one broker client asked for. */
export async function createTransport(config: TransportConfig): Promise<Transport> {
  const after = config.redeliverAfterMs ?? 2000;
  switch (config.kind) {
    case 'rabbitmq': {
      const { rabbitmq } = await import('../../src/transports/rabbitmq.js');
      return rabbitmq(config.url ? { url: config.url } : {});
    }
    case 'nats': {
      const { nats } = await import('../../src/transports/nats.js');
      return nats({ ...(config.url ? { servers: config.url } : {}), ackWaitMs: after });
    }
    case 'redis': {
      const { redis } = await import('../../src/transports/redis.js');
      return redis({ ...(config.url ? { url: config.url } : {}), claimIdleMs: after });
    }
  }
}

/** The effect the across-services consumers record: one row per handled event, no unique constraint (a double effect would show). */
export async function recordEffect(
  tx: { query(text: string, values: unknown[]): Promise<unknown> },
  context: string,
  meta: { eventId: string; streamId: string; streamVersion: number; eventNumber: number },
): Promise<void> {
  await tx.query(`INSERT INTO "${context}".effects (event_id, stream_id, stream_version, event_number) VALUES ($1, $2, $3, $4)`, [
    meta.eventId,
    meta.streamId,
    meta.streamVersion,
    meta.eventNumber,
  ]);
}
