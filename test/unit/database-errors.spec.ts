import { describe, expect, it } from '@jest/globals';
import { asTemporarilyUnavailable } from '../../src/database/database-errors.js';

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
