import { hostname } from 'node:os';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { describe } from '../../errors.js';
import type { Problems } from '../support.js';
import { KIND, type Settings } from './options.js';

/** A connection with its JetStream handles. */
export interface Session {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
}

/**
 * The transport's one connection, opened on first use and kept: the client reconnects by itself.
 * Its status is followed for health and logs.
 */
export class SharedConnection {
  private current: Session | undefined;
  private connecting: Promise<Session> | undefined;
  /** The client's own view: false between a 'disconnect' and the next 'reconnect'. */
  private linkUp = false;

  /**
   * @param closed whether the transport is closed: no connection is opened after that.
   * @param onReconnect runs when the client reconnected (streams may have changed meanwhile).
   */
  constructor(
    private readonly settings: Settings,
    private readonly problems: Problems,
    private readonly closed: () => boolean,
    private readonly onReconnect: () => void,
  ) {}

  /** Open and not reconnecting. */
  get connected(): boolean {
    return this.current !== undefined && this.linkUp;
  }

  /** False while the client reconnects. */
  get up(): boolean {
    return this.linkUp;
  }

  /** The open connection, or a new one. */
  session(): Promise<Session> {
    if (this.closed()) return Promise.reject(new Error('transport is closed'));
    if (this.current && !this.current.nc.isClosed()) return Promise.resolve(this.current);
    this.connecting ??= this.open().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  async close(): Promise<void> {
    const session = this.current ?? (await this.connecting?.catch(() => undefined));
    this.current = undefined;
    this.linkUp = false;
    // Closing rejects every request still waiting for a PubAck.
    await session?.nc.close().catch(() => undefined);
  }

  private async open(): Promise<Session> {
    const { settings } = this;
    const nc = await connect({
      servers: settings.servers,
      name: `herald ${hostname()}:${process.pid}`,
      timeout: settings.timeoutMs,
      // Keep reconnecting for ever: a broker outage must not need a process restart.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1000,
      // Without this the client captures a stack trace per request: publishing is several times slower.
      noAsyncTraces: true,
      ...settings.connection,
    });
    try {
      const session: Session = {
        nc,
        js: jetstream(nc, { timeout: settings.timeoutMs }),
        jsm: await jetstreamManager(nc, { timeout: settings.timeoutMs }),
      };
      if (this.closed()) throw new Error('transport is closed');
      this.current = session;
      this.linkUp = true;
      void this.watch(session);
      return session;
    } catch (error) {
      await nc.close().catch(() => undefined);
      throw error;
    }
  }

  /** Follows the connection's status for health and logs, until it closes. */
  private async watch(session: Session): Promise<void> {
    void session.nc.closed().then((error) => {
      if (this.current === session) {
        this.current = undefined;
        this.linkUp = false;
      }
      if (error) this.problems.note(`connection closed: ${describe(error)}`);
    });
    for await (const status of session.nc.status()) {
      if (this.current !== session) break;
      switch (status.type) {
        case 'disconnect':
          this.linkUp = false;
          this.problems.note(`disconnected from ${status.server}; reconnecting`);
          break;
        case 'reconnect':
          this.linkUp = true;
          this.onReconnect();
          this.settings.logger?.info({ transport: KIND, server: status.server }, 'reconnected');
          break;
        case 'error':
          this.problems.note(`connection error: ${describe(status.error)}`);
          break;
        default:
      }
    }
  }
}
