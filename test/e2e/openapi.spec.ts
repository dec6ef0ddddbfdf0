import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestApp, type TestApp } from '../support/app.js';

type Json = Record<string, any>;

/** Walks GET /docs-json: every response documented, each error with its own example, headers declared. */
describe('the OpenAPI document', () => {
  const token = 'openapi-spec-token';
  let t: TestApp;
  let doc: Json;
  const operations: { route: string; op: Json }[] = [];
  const responses: { route: string; status: string; response: Json }[] = [];

  beforeAll(async () => {
    t = await startTestApp({ ADMIN_TOKEN: token });
    const res = await t.http.get('/docs-json');
    expect(res.status).toBe(200);
    doc = res.body;
    for (const [path, item] of Object.entries<Json>(doc.paths)) {
      for (const [method, op] of Object.entries<Json>(item)) {
        const route = `${method.toUpperCase()} ${path}`;
        operations.push({ route, op });
        for (const [status, response] of Object.entries<Json>(op.responses)) responses.push({ route, status, response: resolve(response) });
      }
    }
  });
  afterAll(async () => t.close());

  /** Follows a local `$ref` such as `#/components/headers/Retry-After`. */
  function resolve(node: Json): Json {
    if (typeof node?.$ref !== 'string') return node;
    return resolve(node.$ref.slice(2).split('/').reduce((at: Json, key: string) => at?.[key], doc));
  }

  /** Where a value does not fit a schema (the parts of OpenAPI 3.0 this document uses). */
  function mismatches(value: unknown, node: Json, at = 'body'): string[] {
    const schema = resolve(node);
    if (value === null) return schema.nullable ? [] : [`${at} is null`];
    if (schema.oneOf) return schema.oneOf.some((s: Json) => mismatches(value, s, at).length === 0) ? [] : [`${at} fits no oneOf`];
    if (schema.enum && !schema.enum.includes(value)) return [`${at}: ${JSON.stringify(value)} not in enum`];
    switch (schema.type) {
      case 'integer':
        return Number.isInteger(value) ? [] : [`${at} is not an integer`];
      case 'string':
      case 'boolean':
        return typeof value === schema.type ? [] : [`${at} is not a ${schema.type}`];
      case 'array':
        return Array.isArray(value) ? value.flatMap((v, i) => mismatches(v, schema.items, `${at}[${i}]`)) : [`${at} is not an array`];
      case 'object':
      case undefined: {
        if (typeof value !== 'object' || Array.isArray(value)) return [`${at} is not an object`];
        const entries = Object.entries(value as Json);
        const missing = (schema.required ?? []).filter((k: string) => !(k in (value as Json))).map((k: string) => `${at}.${k} is missing`);
        return missing.concat(
          entries.flatMap(([k, v]) => {
            const property = schema.properties?.[k] ?? (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined);
            return property ? mismatches(v, property, `${at}.${k}`) : [`${at}.${k} is undocumented`];
          }),
        );
      }
      default:
        return [`${at}: unknown type ${schema.type}`];
    }
  }

  /** Every schema object in the document, with where it is. */
  function schemas(node: unknown, at = '#'): [string, Json][] {
    if (node === null || typeof node !== 'object') return [];
    const here: [string, Json][] = 'type' in node && typeof node.type === 'string' ? [[at, node as Json]] : [];
    return here.concat(Object.entries(node).flatMap(([k, v]) => (k === 'example' || k === 'examples' ? [] : schemas(v, `${at}/${k}`))));
  }

  it('documents each route that exists', () => {
    expect(operations.map((o) => o.route).sort()).toEqual(
      [
        'GET /admin/failed-events',
        'GET /admin/failed-events/{id}',
        'DELETE /admin/failed-events/{id}',
        'POST /admin/failed-events/retry',
        'GET /allocations/{orderid}',
        'GET /health',
        'GET /health/live',
        'GET /health/ready',
        'GET /metrics',
        'GET /products/{sku}',
        'POST /add_batch',
        'POST /admin/failed-events/{id}/retry',
        'POST /allocate',
        'POST /cancel_allocation',
        'POST /change_batch_quantity',
      ].sort(),
    );
  });

  it('describes every response of every operation', () => {
    const undescribed = responses.filter((r) => !(typeof r.response.description === 'string' && r.response.description.trim() !== ''));
    expect(undescribed.map((r) => `${r.route} ${r.status}`)).toEqual([]);
  });

  it('gives every success answer with a body a schema, /health included', () => {
    const bare = responses.filter((r) => r.status.startsWith('2') && r.status !== '204' && !Object.values<Json>(r.response.content ?? {}).some((c) => c.schema));
    expect(bare.map((r) => `${r.route} ${r.status}`)).toEqual([]);
  });

  it('gives each error status examples of its own: statusCode equals the status', () => {
    const errors = responses.filter((r) => Number(r.status) >= 400);
    expect(errors.length).toBeGreaterThan(10);
    const problems = errors.flatMap(({ route, status, response }) => {
      const media = response.content?.['application/json'];
      const examples: Json[] = [
        ...(media?.example !== undefined ? [media.example] : []),
        ...Object.values<Json>(media?.examples ?? {}).map((e) => resolve(e).value),
      ];
      // A schema's own example shows wherever the schema does: it must not claim another status.
      const schemaExample = resolve(media?.schema)?.properties?.statusCode?.example;
      if (schemaExample !== undefined && schemaExample !== Number(status)) return [`${route} ${status}: schema example ${schemaExample}`];
      if (examples.length === 0) return [`${route} ${status}: no example`];
      return examples
        .filter((e) => e.statusCode !== Number(status) || !(typeof e.message === 'string' || Array.isArray(e.message)))
        .map((e) => `${route} ${status}: example ${JSON.stringify(e)}`);
    });
    expect(problems).toEqual([]);
  });

  it('declares Retry-After on every 503 and X-Request-Id on every answer', () => {
    const unavailable = responses.filter((r) => r.status === '503');
    expect(unavailable.length).toBeGreaterThan(0);
    const noRetryAfter = unavailable.filter((r) => resolve(r.response.headers?.['Retry-After'])?.schema?.type !== 'integer');
    expect(noRetryAfter.map((r) => `${r.route} ${r.status}`)).toEqual([]);
    const noRequestId = responses.filter((r) => !resolve(r.response.headers?.['X-Request-Id'])?.description);
    expect(noRequestId.map((r) => `${r.route} ${r.status}`)).toEqual([]);
  });

  it('accepts X-Request-Id on every operation', () => {
    const header = (op: Json) => (op.parameters ?? []).map(resolve).find((p: Json) => p.in === 'header' && p.name === 'X-Request-Id');
    expect(operations.filter(({ op }) => header(op)?.required !== false).map((o) => o.route)).toEqual([]);
  });

  it('documents 413 (body over 1 MB) on every POST', () => {
    const posts = operations.filter((o) => o.route.startsWith('POST '));
    expect(posts.filter((o) => !o.op.responses['413']).map((o) => o.route)).toEqual([]);
  });

  it('types every number as an integer, responses and query parameters included', () => {
    const numbers = schemas(doc).filter(([, s]) => s.type === 'number');
    expect(numbers.map(([at]) => at)).toEqual([]);
    const qty = doc.components.schemas.BatchResponse.properties.qty;
    expect(qty.type).toBe('integer');
    const params = doc.paths['/admin/failed-events'].get.parameters.map(resolve);
    for (const name of ['limit', 'offset']) expect(params.find((p: Json) => p.name === name).schema.type).toBe('integer');
  });

  it('declares the admin token as a plain bearer token, not a JWT', () => {
    const scheme = doc.components.securitySchemes.bearer;
    expect(scheme).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(scheme.bearerFormat).toBeUndefined();
    expect(scheme.description).toMatch(/ADMIN_TOKEN/);
  });

  it('matches real answers: their bodies fit the schemas, and error examples are real answers', async () => {
    const documented = (method: string, path: string, status: number) =>
      Object.values<Json>(doc.paths[path][method].responses[status].content['application/json'].examples).map((e) => e.value);
    const auth = { Authorization: `Bearer ${token}` };
    // The examples name RED-CHAIR, batch-001, order-001: on this file's own database they answer as shown.
    const answers: [string, string, number, () => Promise<{ status: number; body: unknown }>][] = [
      ['get', '/products/{sku}', 404, () => t.http.get('/products/RED-CHAIR')],
      ['get', '/products/{sku}', 400, () => t.http.get(`/products/${'s'.repeat(256)}`)],
      ['get', '/allocations/{orderid}', 404, () => t.http.get('/allocations/order-001')],
      ['post', '/allocate', 400, () => t.http.post('/allocate').send({ orderid: 'order-001', sku: 'RED-CHAIR', qty: 10 })],
      ['post', '/change_batch_quantity', 404, () => t.http.post('/change_batch_quantity').send({ ref: 'batch-001', qty: 20 })],
      ['post', '/add_batch', 201, () => t.http.post('/add_batch').send({ ref: 'batch-001', sku: 'RED-CHAIR', qty: 100 })],
      ['post', '/add_batch', 409, () => t.http.post('/add_batch').send({ ref: 'batch-001', sku: 'RED-CHAIR', qty: 100 })],
      ['post', '/allocate', 202, () => t.http.post('/allocate').send({ orderid: 'order-001', sku: 'RED-CHAIR', qty: 10 })],
      ['post', '/allocate', 409, () => t.http.post('/allocate').send({ orderid: 'order-001', sku: 'RED-CHAIR', qty: 5 })],
      ['post', '/allocate', 409, () => t.http.post('/allocate').send({ orderid: 'order-002', sku: 'RED-CHAIR', qty: 1000 })],
      ['post', '/allocate', 400, () => t.http.post('/allocate').send({ orderid: 'order-003', qty: 0 })],
      ['post', '/add_batch', 400, () => t.http.post('/add_batch').send({ ref: 'batch-002', qty: 0 })],
      ['post', '/change_batch_quantity', 400, () => t.http.post('/change_batch_quantity').send({ qty: -1 })],
      ['post', '/change_batch_quantity', 400, () => t.http.post('/change_batch_quantity').set('Content-Type', 'application/json').send('{"ref": "x", bad')],
      ['post', '/add_batch', 413, () => t.http.post('/add_batch').send({ ref: 'r'.repeat(1_100_000), sku: 'RED-CHAIR', qty: 1 })],
      ['get', '/admin/failed-events', 401, () => t.http.get('/admin/failed-events')],
      ['get', '/admin/failed-events', 400, () => t.http.get('/admin/failed-events?limit=0').set(auth)],
      ['get', '/health', 200, () => t.http.get('/health')],
      ['get', '/products/{sku}', 200, () => t.http.get('/products/RED-CHAIR')],
      ['get', '/allocations/{orderid}', 200, () => t.http.get('/allocations/order-001')],
      ['post', '/change_batch_quantity', 200, () => t.http.post('/change_batch_quantity').send({ ref: 'batch-001', qty: 20 })],
      ['get', '/admin/failed-events', 200, () => t.http.get('/admin/failed-events').set(auth)],
      ['post', '/admin/failed-events/{id}/retry', 404, () => t.http.post('/admin/failed-events/42/retry').set(auth)],
      ['get', '/admin/failed-events/{id}', 404, () => t.http.get('/admin/failed-events/42').set(auth)],
      ['delete', '/admin/failed-events/{id}', 404, () => t.http.delete('/admin/failed-events/42').set(auth).send({ reason: 'x' })],
      ['delete', '/admin/failed-events/{id}', 400, () => t.http.delete('/admin/failed-events/42').set(auth).send({})],
      ['post', '/admin/failed-events/retry', 400, () => t.http.post('/admin/failed-events/retry').set(auth).send({ since: 'yesterday' })],
      ['post', '/admin/failed-events/retry', 202, () => t.http.post('/admin/failed-events/retry').set(auth).send({ handler: 'OutOfStockNotifier' })],
      ['post', '/cancel_allocation', 200, () => t.http.post('/cancel_allocation').send({ orderid: 'order-001', sku: 'RED-CHAIR' })],
      ['post', '/cancel_allocation', 404, () => t.http.post('/cancel_allocation').send({ orderid: 'order-001', sku: 'RED-CHAIR' })],
      ['post', '/cancel_allocation', 400, () => t.http.post('/cancel_allocation').send({})],
      ['post', '/admin/failed-events/{id}/retry', 400, () =>
        t.http.post('/admin/failed-events/42/retry').set(auth).set('Content-Type', 'application/json').send('{"ref": "x", bad')],
    ];
    for (const [method, path, status, send] of answers) {
      const res = await send();
      expect({ path, status: res.status }).toEqual({ path, status });
      // Node 22 and later add "(line 1 column 14)" to the JSON parser's message: compare up to that.
      const body = res.body as Json;
      if (typeof body.message === 'string') body.message = body.message.replace(/ \(line \d+ column \d+\)$/, '');
      const schema = doc.paths[path][method].responses[status].content['application/json'].schema;
      expect({ path, status, mismatches: mismatches(body, schema) }).toEqual({ path, status, mismatches: [] });
      if (status >= 400) expect(documented(method, path, status)).toContainEqual(body);
    }
  });
});
