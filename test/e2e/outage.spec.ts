import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import type { INestApplication } from '@nestjs/common';
import { createApp } from '../../src/app.js';
import { removeDataDir, type RunningPostgres, startEmbeddedPostgres } from '../../src/database/embedded-postgres.js';
import { testConfig, unique } from '../support/config.js';

describe('when the database goes away', () => {
  let folder: string;
  let server: RunningPostgres;
  let app: INestApplication;

  beforeAll(async () => {
    folder = await mkdtemp(path.join(os.tmpdir(), 'outage-'));
    server = await startEmbeddedPostgres({ dataDir: path.join(folder, 'pgdata') });
    app = await createApp(testConfig({ DATABASE_URL: server.url }));
    const http = request(app.getHttpServer());
    await http.post('/add_batch').send({ ref: 'b1', sku: 'SKU', qty: 10 }).expect(201);
    await server.stop();
  });

  afterAll(async () => {
    await app.close();
    await removeDataDir(server.dataDir);
    await rm(folder, { recursive: true, force: true });
  });

  it('GET /health answers 503 with a message and the database marked down', async () => {
    const res = await request(app.getHttpServer()).get('/health');
    expect(res.status).toBe(503);
    expect(typeof res.body.message).toBe('string');
    expect(res.body.details?.database?.status).toBe('down');
  });

  it('commands and queries answer 503 with Retry-After and a JSON message, never a raw error', async () => {
    const http = request(app.getHttpServer());
    for (const res of [
      await http.post('/allocate').send({ orderid: unique('o'), sku: 'SKU', qty: 1 }),
      await http.post('/add_batch').send({ ref: unique('b'), sku: 'SKU', qty: 1 }),
      await http.get('/products/SKU'),
      await http.get('/allocations/o1'),
    ]) {
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toMatch(/^\d+$/);
      expect(res.body.message).toMatch(/database/i);
    }
  });
});
