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
  /** The command tag of the last statement answered (COMMIT, or ROLLBACK for a COMMIT that could not commit). */
  private lastCommand: string | undefined;

  constructor(
    private readonly runner: QueryRunner,
    private readonly transaction: boolean,
  ) {}

  /** Sends the statements at once (behind BEGIN, in a transaction not begun yet); resolves with each one's rows. */
  async send<T = Record<string, unknown>>(...statements: SqlStatement[]): Promise<T[][]> {
    const begin = this.transaction && this.state === 'not begun';
    if (begin) this.state = 'open';
    const rows = await this.pipelined<T>(begin ? [{ text: 'BEGIN', values: [] }, ...statements] : statements);
    return begin ? rows.slice(1) : rows;
  }

  /** Sends the unit's last statement, if any, with COMMIT behind it (if a transaction is open): its rows once committed. */
  async sendLast<T = Record<string, unknown>>(statement: SqlStatement | undefined): Promise<T[]> {
    if (this.state !== 'open') return statement ? (await this.pipelined<T>([statement]))[0] : []; // a transaction of its own
    this.state = 'ended';
    const rows = await this.pipelined<T>([...(statement ? [statement] : []), { text: 'COMMIT', values: [] }]);
    // A COMMIT behind a statement that failed answers ROLLBACK (that statement's error is thrown first); so
    // does one in a transaction that an earlier failure aborted, if a caller went on past that failure.
    if (this.lastCommand !== 'COMMIT') throw new Error(`the unit of work's transaction was rolled back (COMMIT answered ${this.lastCommand})`);
    return statement ? rows[0] : [];
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
  private async pipelined<T>(statements: SqlStatement[]): Promise<T[][]> {
    const client = this.client();
    const results = await Promise.allSettled(statements.map((s) => client.query(s.values.length > 0 ? queryConfig(s.text, s.values) : s.text)));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    const done = results as PromiseFulfilledResult<pg.QueryResult>[];
    this.lastCommand = done.at(-1)?.value.command;
    return done.map((r) => r.value.rows as T[]);
  }

  private client(): pg.PoolClient {
    const client = (this.runner as unknown as { databaseConnection: pg.PoolClient }).databaseConnection;
    if (!client) throw new Error('the query runner is not connected');
    return client;
  }
}
