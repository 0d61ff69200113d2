/**
 * A coalescing wake-up: `notify()` wakes every current waiter, or the next one if none is waiting.
 * Loops use it to sleep "until something happened or the poll interval passed".
 */
export class Wakeup {
  private waiters = new Set<() => void>();
  private pending = false;

  notify(): void {
    if (this.waiters.size === 0) {
      this.pending = true;
      return;
    }
    for (const wake of [...this.waiters]) wake();
  }

  /** Resolves `true` when notified, `false` when `ms` passed first. */
  wait(ms: number): Promise<boolean> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const done = (woken: boolean) => {
        clearTimeout(timer);
        this.waiters.delete(onWake);
        resolve(woken);
      };
      const onWake = () => done(true);
      const timer = setTimeout(() => done(false), Math.max(0, ms));
      this.waiters.add(onWake);
    });
  }
}

/** Sleeps `ms`, or less when `wakeup` fires. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
