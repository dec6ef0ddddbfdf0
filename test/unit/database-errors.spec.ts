import { describe, expect, it } from '@jest/globals';
import { asTemporarilyUnavailable, isConflict, mayBeCausedByOneLine, TemporarilyUnavailable } from '../../src/database/database-errors.js';

const pgError = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('which database errors are a 503', () => {
  it.each([
    ['57P01', 'terminating connection due to administrator command'],
    ['57P03', 'the database system is starting up'],
    ['53300', 'sorry, too many clients already'],
    ['3D000', 'database "x" does not exist'],
    ['28P01', 'password authentication failed for user "x"'],
    ['55000', 'database "x" is not currently accepting connections'],
    ['08006', 'connection failure'],
  ])('%s (%s): the database is unavailable, retry later', (code, message) => {
    const answer = asTemporarilyUnavailable(pgError(code, message));
    expect(answer?.message).toMatch(/database is unavailable/);
    expect(answer?.retryAfterSeconds).toBeGreaterThan(0);
  });

  it('a pool that stayed busy for the whole connection timeout: the service is busy', () => {
    const answer = asTemporarilyUnavailable(new Error('timeout exceeded when trying to connect'));
    expect(answer?.message).toMatch(/busy/);
  });

  it.each([
    ['08P01', 'bind message has 479 parameter formats but 0 parameters'],
    ['55000', 'cannot perform this operation in the current state'],
    ['42P01', 'relation "x" does not exist'],
  ])('%s (%s) is a bug, not an outage: no 503', (code, message) => {
    expect(asTemporarilyUnavailable(pgError(code, message))).toBeUndefined();
  });
});

describe('which failures of a shared unit of allocations are worth retrying line by line', () => {
  it.each([
    ['22021', true], // invalid byte sequence: one line's data
    ['23514', true], // a CHECK constraint
    ['23505', false], // a duplicate key: a lost race, retried as such
    ['57014', false], // a statement timeout: the database, not a line
    ['XX000', false],
  ])('SQLSTATE %s: %s', (code, expected) => {
    expect(mayBeCausedByOneLine(pgError(code))).toBe(expected);
  });

  it('an error of our own code (no SQLSTATE) may be one line; a 503 is not', () => {
    expect(mayBeCausedByOneLine(new TypeError('x'))).toBe(true);
    expect(mayBeCausedByOneLine(new TemporarilyUnavailable('down'))).toBe(false);
  });

  it('a statement timeout is retried, then a 503, like a lock timeout', () => {
    expect(isConflict(pgError('57014', 'canceling statement due to statement timeout'))).toBe(true);
  });
});
