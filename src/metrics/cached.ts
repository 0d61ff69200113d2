/**
 * A value read at most once per `ttlMs`, and never twice at once: the gauges of one scrape (which
 * prom-client collects in parallel) and a storm of scrapes share one read of every Herald's status.
 * A failed read is not kept.
 */
export class Cached<T> {
  private pending: Promise<T> | undefined;
  private last: { readonly at: number; readonly value: T } | undefined;

  constructor(
    private readonly read: () => Promise<T>,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get(): Promise<T> {
    if (this.pending) return this.pending;
    if (this.last && this.now() - this.last.at < this.ttlMs) return Promise.resolve(this.last.value);
    const pending = this.read().then((value) => {
      this.last = { at: this.now(), value };
      return value;
    });
    this.pending = pending;
    const done = () => {
      if (this.pending === pending) this.pending = undefined;
    };
    pending.then(done, done);
    return pending;
  }

  /** Forgets the value (a Herald was detached: the next read must not show it). */
  clear(): void {
    this.last = undefined;
    this.pending = undefined;
  }
}
