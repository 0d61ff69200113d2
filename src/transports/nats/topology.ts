import { nanos } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, JetStreamApiCodes, JetStreamApiError, type JetStreamManager } from '@nats-io/jetstream';
import type { Channel } from '../transport.js';
import type { Session } from './connection.js';
import type { Settings } from './options.js';

/** The streams of the contexts, created when missing and remembered as existing. */
export class Streams {
  /** Streams known to exist (cleared when a publish fails, in case one was deleted). */
  private readonly known = new Map<string, Promise<void>>();

  constructor(private readonly settings: Settings) {}

  /** Creates the context's stream if it does not exist; remembered per stream name. */
  ensure(session: Session, source: string, channel: Channel): Promise<void> {
    const name = this.settings.stream(source, channel);
    let ensured = this.known.get(name);
    if (!ensured) {
      ensured = this.createStream(session, name, source, channel);
      this.known.set(name, ensured);
      ensured.catch(() => this.known.delete(name));
    }
    return ensured;
  }

  /** After a failure: check the context's stream again next time (it may have been deleted). */
  forget(source: string, channel: Channel): void {
    this.known.delete(this.settings.stream(source, channel));
  }

  /** Checks every stream again next time. */
  clear(): void {
    this.known.clear();
  }

  private async createStream(session: Session, name: string, source: string, channel: Channel): Promise<void> {
    const { settings } = this;
    try {
      await session.jsm.streams.info(name);
      return;
    } catch (error) {
      if (!isApiError(error, JetStreamApiCodes.StreamNotFound)) throw error;
    }
    try {
      await session.jsm.streams.add({
        name,
        subjects: [...settings.streamSubjects(source, channel)],
        storage: settings.storage,
        num_replicas: settings.replicas,
        duplicate_window: nanos(settings.duplicateWindowMs),
      });
    } catch (error) {
      // Another process may have created it first (with a config that differs in some detail).
      await session.jsm.streams.info(name).catch(() => {
        throw error;
      });
    }
  }
}

/** Creates the durable consumer, or aligns `ack_wait` and `max_ack_pending` of an existing one. */
export async function ensureConsumer(jsm: JetStreamManager, stream: string, durable: string, ackWaitMs: number, maxAckPending: number): Promise<void> {
  const ackWait = nanos(ackWaitMs);
  try {
    const info = await jsm.consumers.info(stream, durable);
    if (info.config.ack_wait !== ackWait || info.config.max_ack_pending !== maxAckPending) {
      await jsm.consumers.update(stream, durable, { ack_wait: ackWait, max_ack_pending: maxAckPending });
    }
    return;
  } catch (error) {
    if (!isApiError(error, JetStreamApiCodes.ConsumerNotFound)) throw error;
  }
  try {
    await jsm.consumers.add(stream, {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: ackWait,
      max_ack_pending: maxAckPending,
      max_deliver: -1,
    });
  } catch (error) {
    // Another process of the group created it first.
    await jsm.consumers.info(stream, durable).catch(() => {
      throw error;
    });
  }
}

function isApiError(error: unknown, code: number): boolean {
  return error instanceof JetStreamApiError && error.code === code;
}
