import type pg from 'pg';
import type { QueryRunner } from 'typeorm';
import { queryConfig } from './prepared.js';

export interface SqlStatement {
  text: string;
  values: unknown[];
}

/**
 * The statements of one unit of work, on its own connection, each a named prepared statement (prepared.ts).
 * In a transaction (a unit that locks), BEGIN travels with the unit's first statement and COMMIT with its
 * last, pipelined (the pool's connections are in node-postgres's pipeline mode): the unit costs three
 * round trips (BEGIN and lock, read, write and COMMIT) rather than five, and holds its row locks for two
 * rather than three, which is what units of two instances contending for one product wait on. Each
 * statement keeps its own result and error; one that fails aborts the transaction, so that a COMMIT sent
 * behind it only rolls back.
 */
export class UnitStatements {
  private state: 'not begun' | 'open' | 'ended' = 'not begun';

  constructor(
    private readonly runner: QueryRunner,
    private readonly transaction: boolean,
  ) {}

  /** Sends the statements at once (behind BEGIN, in a transaction not begun yet); resolves with each one's rows. */
  async send<T = Record<string, unknown>>(...statements: SqlStatement[]): Promise<T[][]> {
    const begin = this.transaction && this.state === 'not begun';
    if (begin) this.state = 'open';
    const results = await this.pipelined(begin ? [{ text: 'BEGIN', values: [] }, ...statements] : statements);
    return results.slice(begin ? 1 : 0).map((r) => r.rows as T[]);
  }

  /** Sends the unit's last statement, if any, with COMMIT behind it (if a transaction is open): its rows once committed. */
  async sendLast<T = Record<string, unknown>>(statement: SqlStatement | undefined): Promise<T[]> {
    if (this.state !== 'open') return statement ? ((await this.pipelined([statement]))[0].rows as T[]) : []; // a transaction of its own
    this.state = 'ended';
    const results = await this.pipelined([...(statement ? [statement] : []), { text: 'COMMIT', values: [] }]);
    // A COMMIT behind a statement that failed answers ROLLBACK (that statement's error is thrown first); so
    // does one in a transaction that an earlier failure aborted, if a caller went on past that failure.
    const commit = results.at(-1)!.command;
    if (commit !== 'COMMIT') throw new Error(`the unit of work's transaction was rolled back (COMMIT answered ${commit})`);
    return statement ? (results[0].rows as T[]) : [];
  }

  /** Ends a transaction that a failure left open. */
  async abandon(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'ended';
    await this.client().query('ROLLBACK');
  }

  /**
   * Sends the statements at once; waits for every one of them, also after one failed, so that a COMMIT or
   * ROLLBACK behind a failure has ended the transaction (and freed its locks) before the unit answers and
   * releases the connection. Throws the first failure.
   */
  private async pipelined(statements: SqlStatement[]): Promise<pg.QueryResult[]> {
    const client = this.client();
    const results = await Promise.allSettled(statements.map((s) => client.query(s.values.length > 0 ? queryConfig(s.text, s.values) : s.text)));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    return (results as PromiseFulfilledResult<pg.QueryResult>[]).map((r) => r.value);
  }

  private client(): pg.PoolClient {
    const client = (this.runner as unknown as { databaseConnection: pg.PoolClient }).databaseConnection;
    if (!client) throw new Error('the query runner is not connected');
    return client;
  }
}
