import { describe, expect, it } from '@jest/globals';
import { CapturedLogs } from '../support/logs.js';

describe('the logger keeps secrets out of every line', () => {
  it.each(['json', 'pretty'] as const)('%s: passwords in URLs and bearer tokens are redacted wherever they appear', (format) => {
    const logs = new CapturedLogs(format);
    logs.logger.error({ url: 'postgres://app:hunter2@db:5432/x', headers: { authorization: 'Bearer s3cret', cookie: 'sid=abc123' } }, 'failed: redis://:r3dispw@cache:6379 Bearer s3cret');
    logs.logger.info({ err: new Error('connect to smtp://mailer:m41lpw@smtp:25 failed') }, 'oops');
    for (const secret of ['hunter2', 's3cret', 'abc123', 'r3dispw', 'm41lpw']) expect(logs.text).not.toContain(secret);
    expect(logs.text).toContain('postgres://app:[redacted]@db:5432/x');
  });
});
