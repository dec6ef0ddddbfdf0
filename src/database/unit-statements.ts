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

  /** Sends the statements at once (behind BEGIN, if the transaction is not begun); each one's rows. */
  async send<T = Record<string, unknown>>(...statements: SqlStatement[]): Promise<T[][]> {
    const client = this.client();
    const begin = this.transaction && this.state === 'not begun' ? [client.query('BEGIN')] : [];
    if (this.transaction) this.state = 'open';
    const results = await Promise.all([...begin, ...statements.map((s) => client.query(queryConfig(s.text, s.values)))]);
    return results.slice(begin.length).map((r) => r.rows as T[]);
  }

  /** Sends the last statement, if any, with COMMIT behind it (in a transaction): its rows once committed. */
  async sendLast<T = Record<string, unknown>>(statement: SqlStatement | undefined): Promise<T[]> {
    if (!this.transaction) return statement ? (await this.send<T>(statement))[0] : [];
    const client = this.client();
    const sent = [...(this.state === 'not begun' ? [client.query('BEGIN')] : []), ...(statement ? [client.query(queryConfig(statement.text, statement.values))] : [])];
    this.state = 'ended';
    const [results, commit] = await Promise.all([Promise.all(sent), client.query('COMMIT')]);
    // A COMMIT in a transaction that failed answers ROLLBACK; the failure itself rejected above.
    if (commit.command !== 'COMMIT') throw new Error(`the transaction did not commit (${commit.command})`);
    return statement ? (results.at(-1)!.rows as T[]) : [];
  }

  /** Ends a transaction that a failure left open. */
  async abandon(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'ended';
    await this.client().query('ROLLBACK');
  }

  private client(): pg.PoolClient {
    const client = (this.runner as unknown as { databaseConnection: pg.PoolClient }).databaseConnection;
    if (!client) throw new Error('the query runner is not connected');
    return client;
  }
}
