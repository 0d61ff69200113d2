import { TransportError } from '../errors.js';
import type { Logger } from '../runtime/logger.js';
import type { Consumption, Delivery } from './transport.js';

/** Pieces the broker adapters share. Loads no broker client. */

/** A positive number option, or its default; a `TransportError` naming the option otherwise. */
export function positiveOption(kind: string, value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) throw new TransportError(kind, `${name} must be a positive number, got ${value}`);
  return value;
}

/** Throws a `TransportError` naming `name` unless `value` is a positive integer. */
export function checkPositiveInteger(kind: string, value: number, name: string): void {
  if (!Number.isInteger(value) || value < 1) throw new TransportError(kind, `${name} must be a positive integer, got ${value}`);
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
}

/** A transport's most recent problem, kept for `health()` after recovery. */
export class Problems {
  last: string | null = null;

  constructor(
    private readonly kind: string,
    private readonly logger: Logger | undefined,
  ) {}

  /** Keeps `message` as the most recent problem and logs it as a warning. */
  note(message: string): void {
    this.last = message;
    this.logger?.warn({ transport: this.kind }, message);
  }

  /**
   * Notes `message` and returns the `TransportError` to throw (with a `cause` only when there is
   * one); `refused` when the broker refuses a message for good (publishing it again cannot help).
   */
  failure(message: string, cause: unknown, refused = false): TransportError {
    this.note(message);
    return new TransportError(this.kind, message, { ...(cause === undefined ? {} : { cause }), ...(refused ? { refused } : {}) });
  }
}

/**
 * The wait before the next attempt after a failure: `initialMs` first, doubling up to `maxMs`;
 * `reset()` after a success. `interrupt()` ends a wait at once, so closing never waits it out.
 */
export class Backoff {
  private delay: number;
  private wake: (() => void) | undefined;

  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
  ) {
    this.delay = initialMs;
  }

  reset(): void {
    this.delay = this.initialMs;
  }

  async wait(): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.delay);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wake = undefined;
    this.delay = Math.min(this.delay * 2, this.maxMs);
  }

  interrupt(): void {
    this.wake?.();
  }
}

/** What an adapter read from the broker, before it becomes a {@link Delivery}. */
export interface Received {
  readonly body: Buffer;
  readonly brokerId: string;
  readonly redelivered: boolean;
}

/**
 * Hands a message to `onDelivery`. Its first `ack()` or `nack()` runs `settle`; later calls do
 * nothing, so a message is never settled twice. If `onDelivery` throws, `onThrow` reports it and
 * the message is given back.
 */
export function handOver(
  received: Received,
  settle: (ack: boolean) => Promise<void>,
  onDelivery: (delivery: Delivery) => void,
  onThrow: (error: unknown) => void,
): void {
  let settled = false;
  const once = (ack: boolean): Promise<void> => {
    if (settled) return Promise.resolve();
    settled = true;
    return settle(ack);
  };
  const delivery: Delivery = { ...received, ack: () => once(true), nack: () => once(false) };
  try {
    onDelivery(delivery);
  } catch (error) {
    onThrow(error);
    void once(false);
  }
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

/** Closes every running consumption (a transport's `close()`); they unregister from `running` at once. */
export async function closeConsumptions<C extends { close(): Promise<void> }>(running: Set<C>): Promise<void> {
  const consumptions = [...running];
  running.clear();
  await Promise.all(consumptions.map((c) => c.close()));
}
