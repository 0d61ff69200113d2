/**
 * Deadlines for calls Herald cannot cancel itself (handlers, broker confirms): the one timeout
 * mechanism of Herald. One interval timer per watchdog checks every call in flight, instead of a
 * timer per call, and runs only while calls are in flight.
 */
export class Watchdog {
  private readonly calls = new Set<Watched>();
  private timer: NodeJS.Timeout | undefined;

  /** @param timeoutMs how long a call may take; the check runs every tenth of it (10 ms to 1 s). */
  constructor(readonly timeoutMs: number) {}

  /**
   * Runs `call`, handing it an `AbortSignal`. If it has not settled after `timeoutMs`, the signal
   * is aborted and the returned promise rejects with `timeout()`; the call's own late result is
   * ignored. A call that returns synchronously costs nothing.
   */
  run<T>(call: (signal: AbortSignal) => T | PromiseLike<T>, timeout: () => Error): Promise<Awaited<T>> | Awaited<T> {
    const controller = new AbortController();
    const result = call(controller.signal);
    if (!isThenable(result)) return result as Awaited<T>;
    return new Promise<Awaited<T>>((resolve, reject) => {
      const watched: Watched = {
        startedAt: Date.now(),
        expire: () => {
          const error = timeout();
          controller.abort(error);
          reject(error);
        },
      };
      this.add(watched);
      result.then(
        (value) => {
          this.calls.delete(watched);
          resolve(value as Awaited<T>);
        },
        (error: unknown) => {
          this.calls.delete(watched);
          reject(error);
        },
      );
    });
  }

  private add(watched: Watched): void {
    this.calls.add(watched);
    if (this.timer) return;
    const every = Math.max(10, Math.min(1000, this.timeoutMs / 10));
    this.timer = setInterval(() => this.check(), every);
    this.timer.unref();
  }

  private check(): void {
    const now = Date.now();
    for (const call of this.calls) {
      if (now - call.startedAt < this.timeoutMs) continue;
      this.calls.delete(call);
      call.expire();
    }
    if (this.calls.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

interface Watched {
  readonly startedAt: number;
  expire(): void;
}

export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown })?.then === 'function';
}
