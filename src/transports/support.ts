import { TransportError } from '../errors.js';
import type { Consumption } from './transport.js';

/** Pieces the broker adapters share. Loads no broker client. */

/** A positive number option, or its default; a `TransportError` naming the option otherwise. */
export function positiveOption(kind: string, value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) throw new TransportError(kind, `${name} must be a positive number, got ${value}`);
  return value;
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
}

/**
 * Starts a consumption while it is registered in `running` (so `close()` of the transport reaches
 * it), and hands back the handle that unregisters it. `forget` runs when it ends or fails to start.
 */
export async function startConsumption<C extends { start(): Promise<void>; close(): Promise<void> }>(
  running: Set<C>,
  consumption: C,
  forget: () => void = () => {},
): Promise<Consumption> {
  running.add(consumption);
  try {
    await consumption.start();
  } catch (error) {
    running.delete(consumption);
    forget();
    throw error;
  }
  return {
    close: async () => {
      running.delete(consumption);
      await consumption.close();
      forget();
    },
  };
}
