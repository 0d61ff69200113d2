import type pg from 'pg';

/**
 * A pooled connection whose transaction begins only when a statement is run through `tx`.
 * A batch whose handlers never touch the database then needs no BEGIN/COMMIT at all: its
 * checkpoint is one auto-committed statement. `pg` queues statements per connection, so sending
 * BEGIN right before the first one keeps them in order, and `tx.query` keeps pg's own return
 * values (promises, callbacks, submittables such as cursors).
 */
export class LazyTransaction {
  /** The connection as handlers see it; unusable once the batch is over. */
  readonly tx: pg.PoolClient;
  /** Ends the handlers' access: a later `tx.query` (fire-and-forget) throws instead of leaking into another batch. */
  readonly revoke: () => void;
  private beginning: Promise<unknown> | undefined;

  constructor(readonly client: pg.PoolClient) {
    const { proxy, revoke } = Proxy.revocable(client, {
      get: (target, property) => {
        if (property === 'release') {
          return () => {
            throw new Error('Herald owns this connection: do not release it in a handler');
          };
        }
        if (property === 'query') {
          return (...args: unknown[]) => {
            this.begin();
            return (target.query as (...a: unknown[]) => unknown)(...args);
          };
        }
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    this.tx = proxy;
    this.revoke = revoke;
  }

  /** Whether BEGIN was sent: the work so far is inside a transaction. */
  get open(): boolean {
    return this.beginning !== undefined;
  }

  begin(): void {
    if (this.beginning) return;
    this.beginning = this.client.query('BEGIN');
    this.beginning.catch(() => {}); // surfaced by the statement queued behind it, and by commit()
  }

  async commit(): Promise<void> {
    if (!this.beginning) return;
    await this.beginning;
    await this.client.query('COMMIT');
  }

  async rollback(): Promise<void> {
    if (this.beginning) await this.client.query('ROLLBACK');
  }
}
