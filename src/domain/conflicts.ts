import { InvalidArgumentError, WrongExpectedVersionError } from '../errors.js';

export interface RetryOnConflictOptions {
  /** Attempts in all, the first included. Default 3. */
  readonly attempts?: number;
  /** Wait before a retry: a random delay up to this, doubled per attempt (no thundering herd). Default 10 ms. */
  readonly delayMs?: number;
}

/**
 * Runs `work` again when it fails with {@link WrongExpectedVersionError}: another writer changed
 * the stream between the load and the save, so load again (the new state) and decide again. Any
 * other error, or the last conflict, is thrown. `work` must load inside, so a retry sees the change.
 */
export async function retryOnConflict<T>(work: (attempt: number) => Promise<T>, options: RetryOnConflictOptions = {}): Promise<T> {
  const attempts = options.attempts ?? 3;
  const delayMs = options.delayMs ?? 10;
  if (!Number.isSafeInteger(attempts) || attempts < 1) throw new InvalidArgumentError('attempts', `use a whole number ≥ 1, got ${attempts}`);
  for (let attempt = 1; ; attempt++) {
    try {
      return await work(attempt);
    } catch (error) {
      if (!(error instanceof WrongExpectedVersionError) || attempt >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * delayMs * 2 ** (attempt - 1)));
    }
  }
}
