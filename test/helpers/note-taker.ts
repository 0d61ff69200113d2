/**
 * A consumer world for the consumer tests, on the in-memory broker: a receiving context with a
 * `notes` table, a consumer `notes` of a made-up sending context whose handler writes one note per
 * `Noted` event (and throws on a text holding "poison"), and messages sent in the order a test
 * chooses.
 */
import { randomUUID } from 'node:crypto';
import type { TestContext } from 'node:test';
import type pg from 'pg';
import { z } from 'zod';
import { createHerald, defineEvent, type ConsumerDefinition, type Herald } from '../../src/index.js';
import { encodeCloudEvent } from '../../src/transports/cloudevents.js';
import { createPool, dropContext, uniqueContext } from './db.js';
import { MemoryBroker, MemoryTransport } from './memory-transport.js';

export const Noted = defineEvent('Noted', z.object({ text: z.string() }));
export type NotesDefinition = Partial<ConsumerDefinition<readonly [typeof Noted]>>;

export interface NoteTaker {
  readonly pool: pg.Pool;
  readonly context: string;
  readonly source: string;
  readonly broker: MemoryBroker;
  /** Sends version `version` of `streamId` (data `{ text }` for a string); resolves to its event id, the message key. */
  send(streamId: string, version: number, data?: string | Record<string, unknown>, type?: string): string;
  herald(): Herald;
  start(overrides?: NotesDefinition): Promise<ReturnType<Herald['consume']>>;
  /** Stops this Herald and starts the consumer again in a new one (a restart of the process). */
  restart(overrides?: NotesDefinition): Promise<ReturnType<Herald['consume']>>;
  notes(): Promise<{ stream_id: string; version: number; text: string }[]>;
  messages(status: string): Promise<{ message_key: string; stream_version: string | null; reason: string }[]>;
  row(key: string): Promise<{ status: string; attempts: number; reason: string | null; error_type: string | null; error_message: string | null } | undefined>;
}

export async function noteTaker(t: TestContext): Promise<NoteTaker> {
  const pool = createPool(10);
  const context = uniqueContext('cns');
  const source = uniqueContext('src');
  const broker = new MemoryBroker();
  let herald = createHerald({ pool, context, pollMs: 50 });
  await herald.migrate();
  await pool.query(`CREATE TABLE "${context}".notes (seq bigserial, stream_id text, version int, text text)`);
  let number = 0;
  let last: NotesDefinition = {};
  const start = async (overrides: NotesDefinition = {}) => {
    last = overrides;
    const consumer = herald.consume({
      transport: new MemoryTransport(broker),
      name: 'notes',
      source,
      events: [Noted],
      reorderWaitMs: 60_000,
      sweepEveryMs: 50,
      handlers: {
        async Noted(event, meta, { tx }) {
          if (event.data.text.includes('poison')) throw new Error(`cannot note ${event.data.text}`);
          await tx.query(`INSERT INTO "${context}".notes (stream_id, version, text) VALUES ($1, $2, $3)`, [meta.streamId, meta.streamVersion, event.data.text]);
        },
      },
      ...overrides,
    });
    await herald.start();
    return consumer;
  };
  t.after(async () => {
    await herald.stop();
    await dropContext(pool, context);
    await pool.end();
  });
  return {
    pool,
    context,
    source,
    broker,
    send(streamId, version, data = `${streamId}@${version}`, type = 'Noted') {
      const eventId = randomUUID();
      const metadata = { eventId, eventNumber: ++number, streamId, streamVersion: version, causationId: null, correlationId: null, createdAt: new Date(), custom: {} };
      broker.inject(source, encodeCloudEvent(source, { type, data: typeof data === 'string' ? { text: data } : data, metadata }));
      return eventId;
    },
    herald: () => herald,
    start,
    async restart(overrides = last) {
      await herald.stop();
      herald = createHerald({ pool, context, pollMs: 50 });
      return start(overrides);
    },
    async notes() {
      return (await pool.query(`SELECT stream_id, version, text FROM "${context}".notes ORDER BY seq`)).rows;
    },
    async messages(status) {
      const { rows } = await pool.query(`SELECT message_key, stream_version, reason FROM "${context}".consumer_messages WHERE status = $1 ORDER BY stream_version`, [status]);
      return rows;
    },
    async row(key) {
      const { rows } = await pool.query(`SELECT status, attempts, reason, error_type, error_message FROM "${context}".consumer_messages WHERE message_key = $1`, [key]);
      return rows[0];
    },
  };
}
