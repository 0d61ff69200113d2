/**
 * Login rate limiting: failed attempts are counted per user name and per client address in a
 * fixed window. Past the limit, logins are refused (HTTP 429) until the window ends, even with
 * the right password, so guessing costs time whichever of the two an attacker varies. An address
 * may fail four times as often as a name (several people may share one address).
 */
export class LoginLimiter {
  private readonly failures = new Map<string, { count: number; until: number }>();

  constructor(
    private readonly maxFailures: number,
    private readonly windowMs: number,
    /** Most keys kept (memory bound under a spray of names). */
    private readonly maxKeys = 10_000,
  ) {}

  /** Milliseconds until a login from `address` for `user` may be tried again; 0 when it may now. */
  blockedFor(address: string, user: string, now = Date.now()): number {
    let wait = 0;
    for (const key of keys(address, user)) {
      const entry = this.failures.get(key);
      if (!entry) continue;
      if (entry.until <= now) this.failures.delete(key);
      else if (entry.count >= (key.startsWith('addr:') ? this.maxFailures * 4 : this.maxFailures)) wait = Math.max(wait, entry.until - now);
    }
    return wait;
  }

  failed(address: string, user: string, now = Date.now()): void {
    for (const key of keys(address, user)) {
      const entry = this.failures.get(key);
      if (entry && entry.until > now) entry.count++;
      else {
        if (this.failures.size >= this.maxKeys) this.failures.delete(this.failures.keys().next().value!);
        this.failures.set(key, { count: 1, until: now + this.windowMs });
      }
    }
  }

  /** A successful login clears its user's count (not the address's: one account must not reset another's guesses). */
  succeeded(user: string): void {
    this.failures.delete(`user:${user.toLowerCase()}`);
  }
}

function keys(address: string, user: string): string[] {
  return [`addr:${address}`, `user:${user.toLowerCase().slice(0, 200)}`];
}
