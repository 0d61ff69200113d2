import { createHash } from 'node:crypto';

/**
 * A consumer's work in this process: what touches one stream runs in order, one job after the
 * other, with at most `concurrency` jobs at once across streams; every job is tracked, so a stop
 * can wait for what is in hand. Across processes, the stream's row lock does the same job.
 */
export class StreamWork {
  private readonly chains = new Map<string, Promise<void>>();
  private readonly pending = new Set<Promise<unknown>>();
  private readonly queue: (() => void)[] = [];
  private active = 0;

  constructor(
    private readonly concurrency: number,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Runs `job` after the earlier jobs of the same stream, within the concurrency limit. Never rejects. */
  onStream(streamId: string, job: () => Promise<void>): Promise<void> {
    const previous = this.chains.get(streamId) ?? Promise.resolve();
    const next = previous.then(() => this.limited(job));
    this.chains.set(streamId, next);
    void next.finally(() => {
      if (this.chains.get(streamId) === next) this.chains.delete(streamId);
    });
    return next;
  }

  /** Keeps `promise` in hand until it settles; a rejection is reported, not thrown. */
  track(promise: Promise<unknown>): void {
    this.pending.add(promise);
    promise.catch(this.onError).finally(() => this.pending.delete(promise));
  }

  /** Resolves once nothing tracked is in hand (jobs started meanwhile included). */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  private async limited(job: () => Promise<void>): Promise<void> {
    if (this.active >= this.concurrency) await new Promise<void>((resolve) => this.queue.push(resolve));
    this.active++;
    try {
      await job();
    } catch (error) {
      this.onError(error);
    } finally {
      this.active--;
      this.queue.shift()?.();
    }
  }

  /** A short hash of a body, to key messages that have no event id (malformed ones). */
  static hash(body: Buffer): string {
    return createHash('sha256').update(body).digest('hex').slice(0, 16);
  }
}
