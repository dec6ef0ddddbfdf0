import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestApp, type TestApp } from '../support/app.js';
import { unique } from '../support/config.js';

describe('malformed requests: 4xx with a JSON message, and nothing changes', () => {
  let t: TestApp;
  const sku = unique('GUARDED');
  const ref = unique('guarded-batch');
  const orderid = unique('guarded-order');
  let before: unknown;

  beforeAll(async () => {
    t = await startTestApp();
    await t.http.post('/add_batch').send({ ref, sku, qty: 10 }).expect(201);
    await t.http.post('/allocate').send({ orderid, sku, qty: 2 }).expect(202);
    before = (await t.http.get(`/products/${sku}`)).body;
  });

  afterAll(async () => {
    // Everything below left the product exactly as it was.
    expect((await t.http.get(`/products/${sku}`)).body).toEqual(before);
    await t.close();
  });

  const big = 2 ** 31;
  const cases: [string, string, unknown][] = [
    ['/add_batch', 'missing fields', {}],
    ['/add_batch', 'qty as a string', { ref: unique('r'), sku, qty: '5' }],
    ['/add_batch', 'qty zero', { ref: unique('r'), sku, qty: 0 }],
    ['/add_batch', 'qty negative', { ref: unique('r'), sku, qty: -1 }],
    ['/add_batch', 'qty fractional', { ref: unique('r'), sku, qty: 1.5 }],
    ['/add_batch', 'qty beyond 2^31-1', { ref: unique('r'), sku, qty: big }],
    ['/add_batch', 'qty null', { ref: unique('r'), sku, qty: null }],
    ['/add_batch', 'empty ref', { ref: '', sku, qty: 1 }],
    ['/add_batch', 'ref of 256 characters', { ref: 'r'.repeat(256), sku, qty: 1 }],
    ['/add_batch', 'ref with NUL', { ref: 'a\u0000b', sku, qty: 1 }],
    ['/add_batch', 'sku as a number', { ref: unique('r'), sku: 5, qty: 1 }],
    ['/add_batch', 'sku as an object', { ref: unique('r'), sku: { a: 1 }, qty: 1 }],
    ['/add_batch', 'impossible eta', { ref: unique('r'), sku, qty: 1, eta: '2026-02-30' }],
    ['/add_batch', 'eta not a date', { ref: unique('r'), sku, qty: 1, eta: 'tomorrow' }],
    ['/add_batch', 'eta with a time', { ref: unique('r'), sku, qty: 1, eta: '2026-12-24T10:00:00Z' }],
    ['/add_batch', 'eta as a number', { ref: unique('r'), sku, qty: 1, eta: 20261224 }],
    ['/add_batch', 'a JSON array', [{ ref: unique('r'), sku, qty: 1 }]],
    ['/allocate', 'missing qty', { orderid: unique('o'), sku }],
    ['/allocate', 'qty zero', { orderid: unique('o'), sku, qty: 0 }],
    ['/allocate', 'qty beyond 2^31-1', { orderid: unique('o'), sku, qty: big }],
    ['/allocate', 'qty as a numeric string', { orderid: unique('o'), sku, qty: '3' }],
    ['/allocate', 'qty as a boolean', { orderid: unique('o'), sku, qty: true }],
    ['/allocate', 'orderid with NUL', { orderid: 'x\u0000', sku, qty: 1 }],
    ['/allocate', 'sku of 256 characters', { orderid: unique('o'), sku: 's'.repeat(256), qty: 1 }],
    ['/allocate', 'orderid as an array', { orderid: ['a'], sku, qty: 1 }],
    ['/allocate', 'a JSON array', []],
    ['/change_batch_quantity', 'negative qty', { ref, qty: -1 }],
    ['/change_batch_quantity', 'fractional qty', { ref, qty: 0.5 }],
    ['/change_batch_quantity', 'qty beyond 2^31-1', { ref, qty: big }],
    ['/change_batch_quantity', 'missing ref', { qty: 1 }],
    ['/change_batch_quantity', 'ref with NUL', { ref: `${ref}\u0000`, qty: 1 }],
  ];

  it.each(cases)('POST %s with %s is a 400', async (route, _name, body) => {
    const res = await t.http.post(route).send(body as object);
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/json/);
    expect(res.body.message).toBeDefined();
    expect(Array.isArray(res.body.message) || typeof res.body.message === 'string').toBe(true);
    // One message per faulty field: no field is named by two messages.
    const fields = [res.body.message].flat().map((m: string) => m.split(' ')[0]);
    expect(fields).toEqual([...new Set(fields)]);
  });

  it.each(['/add_batch', '/allocate', '/change_batch_quantity'])('POST %s with malformed JSON is a 400', async (route) => {
    const res = await t.http.post(route).set('Content-Type', 'application/json').send('{"ref": "x", bad');
    expect(res.status).toBe(400);
    expect(typeof res.body.message).toBe('string');
  });

  it.each(['/add_batch', '/allocate'])('POST %s with a non-JSON body is a 400', async (route) => {
    const res = await t.http.post(route).set('Content-Type', 'text/plain').send('ref=x&qty=1');
    expect(res.status).toBe(400);
    expect(res.body.message).toBeDefined();
  });

  it('POST /allocate with a body over 1 MB is a 413', async () => {
    const res = await t.http.post('/allocate').send({ orderid: 'o'.repeat(1_100_000), sku, qty: 1 });
    expect(res.status).toBe(413);
    expect(typeof res.body.message).toBe('string');
  });

  it('names every invalid field at once', async () => {
    const res = await t.http.post('/allocate').send({ orderid: '', qty: 0 });
    expect(res.status).toBe(400);
    const text = (res.body.message as string[]).join(' | ');
    expect(text).toMatch(/orderid/);
    expect(text).toMatch(/sku/);
    expect(text).toMatch(/qty/);
  });

  it.each<[string, string, object, unknown[]]>([
    ['/add_batch', 'no fields', {}, ['ref is required', 'sku is required', 'qty is required']],
    ['/add_batch', 'a number for ref', { ref: 5, sku, qty: 1 }, ['ref must be a string']],
    ['/add_batch', 'an empty ref and a null qty', { ref: '', sku, qty: null }, [expect.stringMatching(/^ref must be /), 'qty is required']],
    ['/add_batch', 'a ref of 256 characters', { ref: 'r'.repeat(256), sku, qty: 1 }, [expect.stringMatching(/^ref must be /)]],
    ['/add_batch', 'qty as a string', { ref: unique('r'), sku, qty: '5' }, ['qty must be an integer number']],
    ['/add_batch', 'qty zero', { ref: unique('r'), sku, qty: 0 }, ['qty must not be less than 1']],
    ['/allocate', 'no qty', { orderid: unique('o'), sku }, ['qty is required']],
    ['/allocate', 'qty beyond 2^31-1', { orderid: unique('o'), sku, qty: 2 ** 31 }, ['qty must not be greater than 2147483647']],
    ['/change_batch_quantity', 'a fractional qty', { ref, qty: 1.5 }, ['qty must be an integer number']],
  ])('POST %s with %s has exactly one message per faulty field', async (route, _name, body, expected) => {
    const res = await t.http.post(route).send(body);
    expect(res.status).toBe(400);
    expect(res.body.message).toEqual(expected);
  });

  it.each([
    ['/allocations/%00', 'a NUL orderid'],
    [`/allocations/${'o'.repeat(256)}`, 'an orderid of 256 characters'],
    ['/products/%00', 'a NUL sku'],
    [`/products/${'s'.repeat(256)}`, 'a sku of 256 characters'],
    ['/products/%E0%A4%A', 'a broken percent-encoding'],
  ])('GET %s (%s) is a 400', async (path) => {
    const res = await t.http.get(path);
    expect(res.status).toBe(400);
    expect(res.body.message).toBeDefined();
  });
});
