import { hostname } from 'node:os';
import { connect } from 'amqplib';
import type { ChannelModel } from 'amqplib';
import type { Settings } from './options.js';

/** Opens a connection named after its `role`, so it can be told apart in the management UI. */
export function openConnection(settings: Settings, role: string): Promise<ChannelModel> {
  return connect(settings.url, {
    timeout: settings.connectTimeoutMs,
    clientProperties: { connection_name: `herald ${role} ${hostname()}:${process.pid}` },
  });
}

/**
 * Closes a connection politely, but never waits longer than `ms` for the broker's answer (a
 * half-open TCP connection would otherwise hold shutdown until the heartbeat gives up).
 */
export async function closeConnection(connection: ChannelModel, ms: number): Promise<void> {
  let answered = false;
  // A rejection means it was closed already.
  await within(connection.close().finally(() => (answered = true)), ms);
  if (!answered) (connection.connection as unknown as { stream?: { destroy(): void } }).stream?.destroy();
}

/** Waits for `work` (ignoring its failure), but at most `ms`. */
export async function within(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work.catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
