import type { OperatorAction } from '../operations/bulk.js';
import type { Logger } from '../runtime/logger.js';
import type { AdminContext } from './options.js';

/**
 * Bulk actions this panel runs in the background. Progress lands in the database (the action's
 * counters), so any page or process sees it; `close()` interrupts the runs, which leaves each
 * action frozen with what it did, to be run again later.
 */
export class BackgroundRuns {
  private readonly runs = new Map<string, { controller: AbortController; done: Promise<unknown> }>();

  constructor(
    private readonly logger: Logger | undefined,
    private readonly progressed: () => void,
  ) {}

  /** Starts running an action; resolves once it was claimed, rejects if it cannot be (unknown, not frozen). */
  start(herald: AdminContext, id: number, actor: string): Promise<OperatorAction> {
    const controller = new AbortController();
    let claimed: ((action: OperatorAction) => void) | undefined;
    let running = false;
    const started = new Promise<OperatorAction>((resolve) => (claimed = resolve));
    const done = herald.operations.bulk
      .run(id, {
        actor,
        signal: controller.signal,
        onProgress: (action) => {
          running = true;
          claimed?.(action);
          this.progressed();
        },
      })
      .finally(() => {
        this.runs.delete(`${herald.context}|${id}`);
        this.progressed();
      });
    done.catch((error) => {
      if (running) this.logger?.error({ err: error, context: herald.context, action: id }, 'herald admin: bulk action failed');
    });
    this.runs.set(`${herald.context}|${id}`, { controller, done });
    // The first progress report comes right after the claim; a failed claim rejects `done` first.
    return Promise.race([started, done.then(() => herald.operations.bulk.get(id))]);
  }

  /** Interrupts every run and waits for them to stop. */
  async close(): Promise<void> {
    for (const run of this.runs.values()) run.controller.abort();
    await Promise.allSettled([...this.runs.values()].map((r) => r.done));
  }
}
