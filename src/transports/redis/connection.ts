import { Redis } from 'ioredis';
import type { Settings } from './options.js';

/** A connection that fails fast instead of queueing, and reconnects with a capped backoff. */
export function createClient(settings: Settings, name: string, commandTimeoutMs: number, onError: (error: Error) => void): Redis {
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
export async function ready(client: Redis, timeoutMs: number): Promise<void> {
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
