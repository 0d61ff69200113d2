import type pg from 'pg';
import { TransactionEndedError } from '../errors.js';
import { checkout } from './executor.js';

/** How {@link transaction} opens its transaction. */
export interface TransactionOptions {
  /**
   * Send BEGIN only before the first statement run through {@link Transaction.tx}. Work that never
   * touches the database then costs no BEGIN/COMMIT; statements run on {@link Transaction.client}
   * before that are auto-committed on their own.
   */
  readonly lazy?: boolean;
}

/**
 * One transaction on one pooled connection, as {@link transaction} hands it to its work. Like
 * postgres.js `sql.begin()`: the scope decides COMMIT or ROLLBACK, the work never does.
 */
export interface Transaction {
  /** The connection for code Herald does not own (handlers): revoked when the transaction ends. */
  readonly tx: pg.PoolClient;
  /** The raw connection, for Herald's own statements. */
  readonly client: pg.PoolClient;
  /** Whether BEGIN was sent (always, unless lazy and nothing ran through `tx` yet). */
  readonly open: boolean;
  /** Sends BEGIN now if it was not sent yet (lazy transactions). */
  begin(): void;
  /** Ends the transaction with ROLLBACK even though the work resolves (its value is still returned). */
  setRollbackOnly(): void;
  /**
   * The connection may still be in use by work that cannot be stopped (a handler past its
   * timeout): a ROLLBACK would let its next statement run outside any transaction and commit.
   * Instead, the statement running is cancelled on the server and the connection is destroyed,
   * which rolls the transaction back.
   */
  abandon(reason: Error): void;
}

/**
 * Runs `work` in a transaction on a pooled connection: COMMIT when it resolves, ROLLBACK when it
 * throws (or asked for one), and resolves or rejects after that. The only place Herald sends
 * BEGIN, COMMIT and ROLLBACK. A connection whose BEGIN, COMMIT or ROLLBACK failed, or that was
 * abandoned, is destroyed rather than returned to the pool; an error thrown by the work itself
 * (a business rule, a constraint) leaves the connection healthy.
 */
export async function transaction<T>(pool: pg.Pool, work: (t: Transaction) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
  const client = await checkout(pool);
  const scope = new Scope(client);
  let broken: Error | undefined;
  try {
    if (!options.lazy) scope.begin();
    let result: T;
    try {
      result = await work(scope);
    } catch (error) {
      broken = await scope.finish(false);
      throw error;
    }
    broken = await scope.finish(!scope.rollbackOnly);
    if (broken && !scope.abandoned) throw broken;
    if (scope.abandoned) throw scope.abandoned;
    return result;
  } finally {
    scope.revoke();
    const backend = scope.abandoned ? (client as unknown as { processID?: number }).processID : undefined;
    client.release(broken ?? scope.abandoned);
    // Cancel what the abandoned work still runs on the server, after its connection went back:
    // when many time out at once, each cancel must find a free connection in the pool.
    if (backend) await pool.query('SELECT pg_cancel_backend($1)', [backend]).catch(() => {});
  }
}

class Scope implements Transaction {
  readonly tx: pg.PoolClient;
  readonly revoke: () => void;
  rollbackOnly = false;
  abandoned: Error | undefined;
  private beginning: Promise<unknown> | undefined;

  constructor(readonly client: pg.PoolClient) {
    const { proxy, revoke } = Proxy.revocable(client, {
      get: (target, property) => {
        if (property === 'release') {
          return () => {
            throw new TransactionEndedError();
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

  get open(): boolean {
    return this.beginning !== undefined;
  }

  begin(): void {
    if (this.beginning) return;
    // pg queues statements per connection: BEGIN sent now runs before the statement that follows.
    this.beginning = this.client.query('BEGIN');
    this.beginning.catch(() => {}); // surfaced by the statement queued behind it, and by COMMIT
  }

  setRollbackOnly(): void {
    this.rollbackOnly = true;
  }

  abandon(reason: Error): void {
    this.abandoned ??= reason;
  }

  /** COMMIT or ROLLBACK; resolves to an error when the connection must not be reused. */
  async finish(commit: boolean): Promise<Error | undefined> {
    this.revoke();
    if (this.abandoned) return this.abandoned;
    if (!this.beginning) return undefined;
    try {
      await this.beginning;
      await this.client.query(commit ? 'COMMIT' : 'ROLLBACK');
      return undefined;
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
  }
}
