import type { NodeConnectionOptions } from '@nats-io/transport-node';
import { StorageType } from '@nats-io/jetstream';
import type { Logger } from '../../runtime/logger.js';
import { positiveOption } from '../support.js';
import type { Channel, OutgoingMessage } from '../transport.js';

/** The transport's kind, in errors and logs. */
export const KIND = 'nats';

/** Options of {@link nats}. Every function option must return the same value for the same input in every process. */
export interface NatsOptions {
  /** Server URL(s). Default `'127.0.0.1:4222'`. */
  readonly servers?: string | readonly string[];
  /** Stream of a context's channel. Default `HERALD_<SOURCE>` for events, `HERALD_<SOURCE>_ACKS` for acks (sanitised, upper case). */
  readonly stream?: (source: string, channel: Channel) => string;
  /** Subject a message is published on. Default `herald.<source>.<type>` for events, `herald-acks.<source>` for acks (sanitised). */
  readonly subject?: (message: OutgoingMessage, channel: Channel) => string;
  /**
   * Subjects of a stream Herald creates; they must cover every subject `subject` returns for that
   * context. Default `['herald.<source>.>']` for events, `['herald-acks.<source>']` for acks.
   */
  readonly streamSubjects?: (source: string, channel: Channel) => readonly string[];
  /** Window in which the stream drops a message whose id it already stored. Default 120 000 ms. */
  readonly duplicateWindowMs?: number;
  /** How long a delivery may stay unsettled once its process stopped confirming it is alive. Default 30 000 ms. */
  readonly ackWaitMs?: number;
  /** Storage of the streams Herald creates. Default `'file'`. Existing streams are used as they are. */
  readonly storage?: 'file' | 'memory';
  /** Replicas of the streams Herald creates (clustered JetStream). Default 1. */
  readonly replicas?: number;
  /** Connect, JetStream API and PubAck timeout. Default 5000 ms. */
  readonly timeoutMs?: number;
  /** Consumer restart backoff after an error: first delay and cap, doubling in between. Default 100 ms to 5000 ms. */
  readonly reconnectMs?: { readonly initial?: number; readonly max?: number };
  /** More connection options (credentials, TLS, `reconnectTimeWait`, …), applied over Herald's defaults. */
  readonly connection?: Partial<NodeConnectionOptions>;
  /** Where connection problems are reported. Default: nowhere. */
  readonly logger?: Logger;
}

/** The options with every default applied. */
export interface Settings {
  readonly servers: string | string[];
  readonly stream: (source: string, channel: Channel) => string;
  readonly subject: (message: OutgoingMessage, channel: Channel) => string;
  readonly streamSubjects: (source: string, channel: Channel) => readonly string[];
  readonly duplicateWindowMs: number;
  readonly ackWaitMs: number;
  readonly storage: StorageType;
  readonly replicas: number;
  readonly timeoutMs: number;
  readonly reconnectInitialMs: number;
  readonly reconnectMaxMs: number;
  readonly connection: Partial<NodeConnectionOptions>;
  readonly logger: Logger | undefined;
}

/** A NATS subject token / consumer name: every character outside `[A-Za-z0-9_-]` becomes `_`. */
export function token(value: string): string {
  return value.replace(/[^A-Za-z0-9_-]/g, '_') || '_';
}

/** Applies the defaults; a `TransportError` for an invalid option. */
export function resolve(options: NatsOptions): Settings {
  return {
    servers: typeof options.servers === 'string' ? options.servers : options.servers ? [...options.servers] : '127.0.0.1:4222',
    stream:
      options.stream ??
      ((source, channel) => `HERALD_${token(source).toUpperCase()}${channel === 'acks' ? '_ACKS' : ''}`),
    subject: options.subject ?? ((m, channel) => (channel === 'events' ? `herald.${token(m.source)}.${token(m.type)}` : `herald-acks.${token(m.source)}`)),
    streamSubjects:
      options.streamSubjects ?? ((source, channel) => (channel === 'events' ? [`herald.${token(source)}.>`] : [`herald-acks.${token(source)}`])),
    duplicateWindowMs: positiveOption(KIND, options.duplicateWindowMs, 120_000, 'duplicateWindowMs'),
    ackWaitMs: positiveOption(KIND, options.ackWaitMs, 30_000, 'ackWaitMs'),
    storage: options.storage === 'memory' ? StorageType.Memory : StorageType.File,
    replicas: positiveOption(KIND, options.replicas, 1, 'replicas'),
    timeoutMs: positiveOption(KIND, options.timeoutMs, 5000, 'timeoutMs'),
    reconnectInitialMs: positiveOption(KIND, options.reconnectMs?.initial, 100, 'reconnectMs.initial'),
    reconnectMaxMs: positiveOption(KIND, options.reconnectMs?.max, 5000, 'reconnectMs.max'),
    connection: options.connection ?? {},
    logger: options.logger,
  };
}
