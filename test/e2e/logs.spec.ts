import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestApp, type TestApp } from '../support/app.js';
import { unique } from '../support/config.js';
import { CapturedLogs } from '../support/logs.js';

const TOKEN = 's3cret-admin-token';

describe.each(['json', 'pretty'] as const)('request logs (%s)', (format) => {
  let t: TestApp;
  let logs: CapturedLogs;

  beforeAll(async () => {
    logs = new CapturedLogs(format);
    t = await startTestApp({ ADMIN_TOKEN: TOKEN, LOG_FORMAT: format }, logs.logger);
  });
  afterAll(async () => t.close());

  /** The lines of one request, found by the id we gave it. */
  const linesOf = (requestId: string) => logs.lines.filter((l) => l.includes(requestId));

  it('never writes the admin token, the Authorization header or cookies', async () => {
    const id = unique('req');
    await t.http.get('/admin/failed-events').set('Authorization', `Bearer ${TOKEN}`).set('Cookie', 'session=c00kie').set('X-Request-Id', id).expect(200);
    await t.http.get('/admin/failed-events').set('Authorization', `Bearer ${TOKEN}-wrong`).expect(401);
    expect(linesOf(id)).toHaveLength(1);
    expect(logs.text).not.toContain(TOKEN);
    expect(logs.text).not.toContain('c00kie');
  });

  it('writes one line per request: method, route template, status, duration and request id; no colour into a file', async () => {
    const id = unique('req');
    await t.http.get(`/allocations/${unique('order')}`).set('X-Request-Id', id).expect(404);
    const lines = linesOf(id);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('GET /allocations/:orderid 404');
    expect(lines[0]).not.toContain('\u001b['); // ANSI colour codes
    if (format === 'json') {
      expect(JSON.parse(lines[0])).toMatchObject({ requestId: id, method: 'GET', route: '/allocations/:orderid', status: 404, durationMs: expect.any(Number) });
      expect(lines[0]).not.toContain('splat');
    }
  });

  it('logs malformed and oversized bodies too, once each', async () => {
    const bad = unique('req');
    await t.http.post('/allocate').set('X-Request-Id', bad).set('content-type', 'application/json').send('{bad').expect(400);
    const big = unique('req');
    await t.http.post('/allocate').set('X-Request-Id', big).set('content-type', 'application/json').send(`{"x":"${'a'.repeat(1_100_000)}"}`).expect(413);
    expect(linesOf(bad)).toHaveLength(1);
    expect(linesOf(bad)[0]).toContain('POST /allocate 400');
    expect(linesOf(big)).toHaveLength(1);
    expect(linesOf(big)[0]).toContain('POST /allocate 413');
  });
});

describe('start-up logs', () => {
  it('keep Nest’s bootstrap detail at debug', async () => {
    const info = new CapturedLogs('json', 'info');
    const quiet = await startTestApp({}, info.logger);
    await quiet.close();
    expect(info.text).not.toMatch(/InstanceLoader|RouterExplorer|RoutesResolver/);

    const debug = new CapturedLogs('json', 'debug');
    const chatty = await startTestApp({}, debug.logger);
    await chatty.close();
    expect(debug.entries.some((e) => e.context === 'RouterExplorer' && e.level === 20)).toBe(true);
  });
});
