import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { eventually, startTestApp, type TestApp } from '../support/app.js';
import { unique } from '../support/config.js';

describe('HTTP API (the contract)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t.close());

  const addBatch = (ref: string, sku: string, qty: number, eta: string | null = null) =>
    t.http.post('/add_batch').send({ ref, sku, qty, eta });
  const allocate = (orderid: string, sku: string, qty: number) => t.http.post('/allocate').send({ orderid, sku, qty });

  describe('POST /add_batch', () => {
    it('creates a batch: 201', async () => {
      const [ref, sku] = [unique('batch'), unique('SKU')];
      const res = await addBatch(ref, sku, 100, '2026-12-24');
      expect(res.status).toBe(201);
      expect(res.body).toEqual({ ref, sku, qty: 100, eta: '2026-12-24' });
      const product = await t.http.get(`/products/${sku}`);
      expect(product.body.batches).toEqual([{ ref, eta: '2026-12-24', qty: 100, allocated: 0, available: 100 }]);
    });

    it('accepts an absent eta as warehouse stock', async () => {
      const [ref, sku] = [unique('batch'), unique('SKU')];
      expect((await t.http.post('/add_batch').send({ ref, sku, qty: 1 })).status).toBe(201);
      expect((await t.http.get(`/products/${sku}`)).body.batches[0].eta).toBeNull();
    });

    it('refuses a reference that exists: 409 with a message, and changes nothing', async () => {
      const [ref, sku] = [unique('batch'), unique('SKU')];
      await addBatch(ref, sku, 10);
      const res = await addBatch(ref, unique('OTHER'), 5);
      expect(res.status).toBe(409);
      expect(res.body.message).toBe(`Batch ${ref} already exists`);
      expect((await t.http.get(`/products/${sku}`)).body).toMatchObject({ version: 1, batches: [{ qty: 10 }] });
    });
  });

  describe('POST /allocate', () => {
    it('allocates to the earliest batch: 202 with its batchref (the book\'s happy path)', async () => {
      const [sku, otherSku] = [unique('SKU'), unique('OTHER')];
      const [early, later, other] = [unique('early'), unique('later'), unique('other')];
      await addBatch(later, sku, 100, '2011-01-02');
      await addBatch(early, sku, 100, '2011-01-01');
      await addBatch(other, otherSku, 100, null);
      const orderid = unique('order');
      const res = await allocate(orderid, sku, 3);
      expect(res.status).toBe(202);
      expect(res.body).toEqual({ batchref: early });
      // Read your writes: the view shows the line as soon as the 202 is out.
      const view = await t.http.get(`/allocations/${orderid}`);
      expect(view.status).toBe(200);
      expect(view.body).toEqual([{ sku, batchref: early }]);
    });

    it('prefers warehouse stock to any shipment', async () => {
      const sku = unique('SKU');
      const [warehouse, ship] = [unique('warehouse'), unique('ship')];
      await addBatch(ship, sku, 100, '2000-01-01');
      await addBatch(warehouse, sku, 100, null);
      expect((await allocate(unique('o'), sku, 1)).body).toEqual({ batchref: warehouse });
    });

    it('answers 400 "Invalid sku" for a SKU that never had a batch', async () => {
      const sku = unique('NOPE');
      const res = await allocate(unique('order'), sku, 1);
      expect(res.status).toBe(400);
      expect(res.body.message).toBe(`Invalid sku ${sku}`);
    });

    it('answers 409 "Out of stock" when nothing fits, allocating nothing', async () => {
      const [sku, ref] = [unique('SKU'), unique('small')];
      await addBatch(ref, sku, 10, '2011-01-01');
      expect((await allocate(unique('o'), sku, 10)).status).toBe(202);
      const orderid = unique('order');
      const res = await allocate(orderid, sku, 1);
      expect(res.status).toBe(409);
      expect(res.body.message).toBe(`Out of stock for sku ${sku}`);
      expect((await t.http.get(`/allocations/${orderid}`)).status).toBe(404);
      expect((await t.http.get(`/products/${sku}`)).body.batches[0]).toMatchObject({ allocated: 10, available: 0 });
    });

    it('answers a retried line with the same batch and changes nothing', async () => {
      const [sku, ref] = [unique('SKU'), unique('b')];
      await addBatch(ref, sku, 10);
      const orderid = unique('order');
      expect((await allocate(orderid, sku, 4)).body).toEqual({ batchref: ref });
      const before = (await t.http.get(`/products/${sku}`)).body;
      const retry = await allocate(orderid, sku, 4);
      expect(retry.status).toBe(202);
      expect(retry.body).toEqual({ batchref: ref });
      expect((await t.http.get(`/products/${sku}`)).body).toEqual(before);
    });

    it('refuses the same line with another qty: 409, nothing changes', async () => {
      const [sku, ref] = [unique('SKU'), unique('b')];
      await addBatch(ref, sku, 10);
      const orderid = unique('order');
      await allocate(orderid, sku, 4);
      const res = await allocate(orderid, sku, 5);
      expect(res.status).toBe(409);
      expect(typeof res.body.message).toBe('string');
      expect((await t.http.get(`/products/${sku}`)).body.batches[0]).toMatchObject({ allocated: 4 });
    });
  });

  describe('POST /change_batch_quantity', () => {
    it('changes the quantity: 200', async () => {
      const [sku, ref] = [unique('SKU'), unique('b')];
      await addBatch(ref, sku, 10);
      const res = await t.http.post('/change_batch_quantity').send({ ref, qty: 25 });
      expect(res.status).toBe(200);
      expect((await t.http.get(`/products/${sku}`)).body.batches[0]).toMatchObject({ qty: 25, available: 25 });
    });

    it('reallocates the lines that no longer fit to another batch', async () => {
      const sku = unique('SKU');
      const [earlier, later] = [unique('earlier'), unique('later')];
      await addBatch(earlier, sku, 50, '2011-01-01');
      await addBatch(later, sku, 50, '2011-01-02');
      const [o1, o2] = [unique('order'), unique('order')];
      expect((await allocate(o1, sku, 10)).body).toEqual({ batchref: earlier });
      expect((await allocate(o2, sku, 10)).body).toEqual({ batchref: earlier });

      expect((await t.http.post('/change_batch_quantity').send({ ref: earlier, qty: 15 })).status).toBe(200);

      // The newest line (o2) leaves and is reallocated by the saga, after the answer.
      await eventually(async () => {
        expect((await t.http.get(`/allocations/${o2}`)).body).toEqual([{ sku, batchref: later }]);
      });
      expect((await t.http.get(`/allocations/${o1}`)).body).toEqual([{ sku, batchref: earlier }]);
      const product = (await t.http.get(`/products/${sku}`)).body;
      expect(product.batches).toEqual([
        { ref: earlier, eta: '2011-01-01', qty: 15, allocated: 10, available: 5 },
        { ref: later, eta: '2011-01-02', qty: 50, allocated: 10, available: 40 },
      ]);
    });

    it('answers 404 for an unknown batch', async () => {
      const ref = unique('ghost');
      const res = await t.http.post('/change_batch_quantity').send({ ref, qty: 5 });
      expect(res.status).toBe(404);
      expect(res.body.message).toBe(`Unknown batch ${ref}`);
    });
  });

  describe('GET /allocations/{orderid}', () => {
    it('lists every line of the order', async () => {
      const [a, b] = [unique('A'), unique('B')];
      const [ra, rb] = [unique('ra'), unique('rb')];
      await addBatch(ra, a, 10);
      await addBatch(rb, b, 10);
      const orderid = unique('order');
      await allocate(orderid, a, 1);
      await allocate(orderid, b, 2);
      const res = await t.http.get(`/allocations/${encodeURIComponent(orderid)}`);
      expect(res.status).toBe(200);
      expect(res.body).toEqual(expect.arrayContaining([{ sku: a, batchref: ra }, { sku: b, batchref: rb }]));
      expect(res.body).toHaveLength(2);
    });

    it('answers 404 with a message when nothing is allocated to the order', async () => {
      const res = await t.http.get(`/allocations/${unique('nobody')}`);
      expect(res.status).toBe(404);
      expect(typeof res.body.message).toBe('string');
    });
  });

  describe('GET /products/{sku}', () => {
    it('shows version and batches with qty, allocated and available', async () => {
      const sku = unique('SKU');
      const [w, s] = [unique('w'), unique('s')];
      await addBatch(s, sku, 20, '2026-01-01');
      await addBatch(w, sku, 5, null);
      await allocate(unique('o'), sku, 5);
      await allocate(unique('o'), sku, 7);
      const res = await t.http.get(`/products/${encodeURIComponent(sku)}`);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        sku,
        version: 4,
        batches: [
          { ref: w, eta: null, qty: 5, allocated: 5, available: 0 },
          { ref: s, eta: '2026-01-01', qty: 20, allocated: 7, available: 13 },
        ],
      });
    });

    it('answers 404 for an unknown sku', async () => {
      const res = await t.http.get(`/products/${unique('NONE')}`);
      expect(res.status).toBe(404);
      expect(typeof res.body.message).toBe('string');
    });

    it('handles any Unicode in identifiers', async () => {
      const sku = `ÉTAGÈRE-😀-${unique('x')}`;
      const ref = `lot/ü ${unique('r')}`;
      expect((await addBatch(ref, sku, 3)).status).toBe(201);
      const orderid = `commande ${unique('o')}`;
      expect((await allocate(orderid, sku, 1)).body).toEqual({ batchref: ref });
      expect((await t.http.get(`/allocations/${encodeURIComponent(orderid)}`)).body).toEqual([{ sku, batchref: ref }]);
      expect((await t.http.get(`/products/${encodeURIComponent(sku)}`)).body.sku).toBe(sku);
    });
  });

  describe('operations', () => {
    it('GET /health is 200 and lists the database', async () => {
      const res = await t.http.get('/health');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ status: 'ok', details: { database: { status: 'up' } } });
    });

    it('serves Swagger UI at /docs and an OpenAPI 3 document describing every route', async () => {
      const ui = await t.http.get('/docs');
      expect(ui.status).toBe(200);
      expect(ui.text).toContain('swagger');
      const doc = await t.http.get('/docs-json');
      expect(doc.status).toBe(200);
      expect(doc.body.openapi).toMatch(/^3\./);
      expect(Object.keys(doc.body.paths)).toEqual(
        expect.arrayContaining(['/add_batch', '/allocate', '/change_batch_quantity', '/allocations/{orderid}', '/products/{sku}', '/health']),
      );
      expect(Object.keys(doc.body.paths['/allocate'].post.responses)).toEqual(expect.arrayContaining(['202', '400', '409', '503']));
      expect(doc.body.components.schemas.AllocateRequest.required).toEqual(expect.arrayContaining(['orderid', 'sku', 'qty']));
    });

    it('answers an unknown route with 404 and a JSON message', async () => {
      const res = await t.http.get('/no-such-route');
      expect(res.status).toBe(404);
      expect(typeof res.body.message).toBe('string');
    });
  });
});

describe('request ids', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t.close());

  it('echoes X-Request-Id and stores it with the events the request caused', async () => {
    const sku = unique('TRACED');
    await t.http.post('/add_batch').send({ ref: unique('b'), sku, qty: 5 }).expect(201);
    const res = await t.http.post('/allocate').set('X-Request-Id', 'req-trace-42').send({ orderid: unique('o'), sku, qty: 1 });
    expect(res.status).toBe(202);
    expect(res.headers['x-request-id']).toBe('req-trace-42');
    const { DataSource } = await import('typeorm');
    const rows = await t.app.get(DataSource).query(`SELECT name, request_id FROM outbox WHERE sku = $1`, [sku]);
    expect(rows).toEqual([{ name: 'Allocated', request_id: 'req-trace-42' }]);
  });

  it('makes one up when none (or an unusable one) is given', async () => {
    const res = await t.http.get('/health').set('X-Request-Id', 'bad id with spaces');
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});
