import { describe, expect, it } from '@jest/globals';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { isCalendarDate, isIdentifier } from '../../src/allocation/http/validators.js';

describe('loadConfig', () => {
  it('has defaults that need no server', () => {
    expect(loadConfig({})).toMatchObject({
      port: 3000,
      databaseUrl: undefined,
      smtpFrom: 'allocation-service@localhost',
      notifyTo: 'buying-team@localhost',
      logFormat: 'json',
    });
  });

  it('reads the documented keys', () => {
    const config = loadConfig({ PORT: '8080', DATABASE_URL: 'postgres://u:p@db:5432/x', LOG_FORMAT: 'pretty', ADMIN_TOKEN: 't' });
    expect(config).toMatchObject({ port: 8080, databaseUrl: 'postgres://u:p@db:5432/x', logFormat: 'pretty', adminToken: 't' });
  });

  it('prefixes no Redis name by default (the book\'s names) and takes REDIS_KEY_PREFIX as given', () => {
    expect(loadConfig({}).redisKeyPrefix).toBe('');
    expect(loadConfig({ REDIS_KEY_PREFIX: 'staging:' }).redisKeyPrefix).toBe('staging:');
  });

  it('names every bad key at once and hides passwords', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'abc', DATABASE_URL: 'mysql://u:secret@h/x', LOG_FORMAT: 'xml' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain('PORT must be an integer from 1 to 65535 (got "abc")');
    expect(message).toContain('DATABASE_URL');
    expect(message).toContain('LOG_FORMAT');
    expect(message).not.toContain('secret');
  });

  it.each(['0', '65536', '-1', '3.5'])('rejects PORT=%s', (port) => {
    expect(() => loadConfig({ PORT: port })).toThrow(ConfigError);
  });
});

describe('input rules', () => {
  it.each([
    ['2026-12-24', true],
    ['2024-02-29', true],
    ['2026-02-29', false],
    ['2026-13-01', false],
    ['0000-01-01', false],
    ['26-12-24', false],
    ['2026-12-24T00:00:00Z', false],
    [20261224, false],
  ])('isCalendarDate(%p) is %p', (value, expected) => {
    expect(isCalendarDate(value)).toBe(expected);
  });

  it('counts characters as PostgreSQL does and refuses NUL', () => {
    expect(isIdentifier('x'.repeat(255))).toBe(true);
    expect(isIdentifier('😀'.repeat(255))).toBe(true);
    expect(isIdentifier('x'.repeat(256))).toBe(false);
    expect(isIdentifier('')).toBe(false);
    expect(isIdentifier('a\u0000b')).toBe(false);
    expect(isIdentifier(5)).toBe(false);
  });
});
