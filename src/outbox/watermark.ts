/**
 * How far an outbox table's ids are settled — every id up to the watermark is committed and
 * visible, or rolled back for good — from successive looks at its writers. Pure.
 *
 * A look reads the id sequence's last value S, then the transactions holding a RowExclusiveLock
 * on the table (virtual transaction ids). A transaction that took an id ≤ S took it inside an
 * INSERT into the table, after that lock and before S was read, and holds the lock until it
 * ends: so it is among those writers, or it has ended. S is settled once every one of them has
 * ended, which later looks tell: a writer still running holds its lock, a virtual transaction id
 * never comes back. A writer of a later look that holds no id ≤ S (it came later, or only
 * updates) is not waited for.
 */
export class Watermark {
  /** Every id up to here is settled. */
  settled = 0;
  /** Values of S not settled yet, ascending, each with the writers it still waits for. */
  private pending: { readonly value: number; readonly since: number; writers: Set<string> }[] = [];
  /** The latest sequence value seen (null before the sequence handed out an id). */
  latest: number | null = null;

  /** At most this many values wait at once; beyond, the newest replaces the last (settling later, never wrongly). */
  static readonly MAX_PENDING = 64;

  /** Something settled (a resumed checkpoint, say): never moves back. */
  raise(value: number): void {
    if (value <= this.settled) return;
    this.settled = value;
    this.pending = this.pending.filter((p) => p.value > value);
  }

  /** One look at `now` (ms): the sequence's last value (null: none handed out yet) and the writers then. Returns the watermark. */
  observe(lastValue: number | null, writers: readonly string[], now = 0): number {
    const live = new Set(writers);
    for (const p of this.pending) {
      for (const w of p.writers) if (!live.has(w)) p.writers.delete(w);
      if (p.writers.size === 0) this.raise(p.value);
    }
    if (lastValue !== null) {
      this.latest = lastValue;
      const top = this.pending.at(-1)?.value ?? this.settled;
      if (lastValue > top) {
        if (live.size === 0) this.raise(lastValue);
        else {
          if (this.pending.length >= Watermark.MAX_PENDING) this.pending.pop();
          this.pending.push({ value: lastValue, since: now, writers: live });
        }
      }
    }
    return this.settled;
  }

  /** Whether a value waits for writers to end (look again soon). */
  get waiting(): boolean {
    return this.pending.length > 0;
  }

  /** How long (ms, at `now`) the next step of the watermark has waited; 0 when nothing waits. */
  waitedMs(now: number): number {
    const oldest = this.pending[0];
    return oldest ? now - oldest.since : 0;
  }

  /** The writers the next step of the watermark waits for (virtual transaction ids). */
  blockers(): string[] {
    return [...(this.pending[0]?.writers ?? [])];
  }
}
