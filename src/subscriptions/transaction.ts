import type pg from 'pg';

/**
 * A pooled connection whose transaction begins only when a statement is run through `tx`.
 * A batch whose handlers never touch the database then needs no BEGIN/COMMIT at all: its
 * checkpoint is one auto-committed statement. `pg` queues statements per connection, so sending
 * BEGIN right before the first one keeps them in order, and `tx.query` keeps pg's own return
 * values (promises, callbacks, submittables such as cursors).
 */
export class LazyTransaction {
  /** The connection as handlers see it. */
  readonly tx: pg.PoolClient;
  private beginning: Promise<unknown> | undefined;

  constructor(readonly client: pg.PoolClient) {
    this.tx = new Proxy(client, {
      get: (target, property) => {
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
