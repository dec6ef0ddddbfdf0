import { describe, expect, it } from '@jest/globals';
import { Batch, OrderLine, OutOfStock, Product } from '../../src/allocation/domain/index.js';
import { productState, productStatement } from '../../src/allocation/persistence/product-statement.js';
import { OutboxRows } from '../../src/messaging/outbox.store.js';

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const rows = (product: Product) => new OutboxRows(product.events.splice(0), { requestId: 'req-1', traceparent: TRACEPARENT });

function productWithLines(lines: number): Product {
  const batch = new Batch('full', 'SKU', lines, null, Array.from({ length: lines }, (_, i) => new OrderLine(`o${i}`, 'SKU', 1)));
  return new Product('SKU', [batch, new Batch('room', 'SKU', 100, '2030-01-01')], 7);
}

describe('productStatement: one statement for the products of a unit of work, from their states before and after', () => {
  it('writes nothing when nothing changed and nothing happened', () => {
    const product = productWithLines(1);
    expect(productStatement([{ before: productState(product), after: productState(product) }], rows(product), 1000)).toBeUndefined();
  });

  it('writes only the events when the product did not change (out of stock)', () => {
    const product = productWithLines(1);
    const before = productState(product);
    product.allocate(new OrderLine('big', 'SKU', 1000));
    expect(product.events).toEqual([new OutOfStock('SKU')]);
    const statement = productStatement([{ before, after: productState(product) }], rows(product), 1000)!;
    expect(statement.text).not.toMatch(/products|batches|allocations/);
    expect(statement.values).toEqual([[expect.any(String)], ['OutOfStock'], ['SKU'], ['{"sku":"SKU"}'], [1], ['req-1'], [TRACEPARENT], 1000]);
  });

  it('checks the version read, and writes the new line, the counter and the event, and nothing else', () => {
    const product = productWithLines(1);
    const before = productState(product);
    product.allocate(new OrderLine('o-new', 'SKU', 5));
    const { text, values } = productStatement([{ before, after: productState(product) }], rows(product), 1000)!;
    expect(text).toMatch(/UPDATE products SET version = \$1::int WHERE sku = \$2::varchar AND version = \$3::int/);
    expect(text).toMatch(/allocation_versions_checked\(\(SELECT count\(\*\) FROM v\), \$19::int\)/);
    expect(text).not.toMatch(/new_batches|removed_lines/);
    expect(values.slice(0, 10)).toEqual([8, 'SKU', 7, 100, 5, 'room', ['o-new'], ['SKU'], [5], ['room']]);
    expect(values.slice(10)).toEqual([[expect.any(String)], ['Allocated'], ['SKU'], [expect.stringContaining('"orderid":"o-new"')], [1], ['req-1'], [TRACEPARENT], 1000, 1]);
  });

  it('inserts a new product, with no version to check', () => {
    const product = new Product('NEW');
    product.addBatch('b1', 10, '2030-01-01');
    const { text, values } = productStatement([{ before: undefined, after: productState(product) }], rows(product), 1000)!;
    expect(text).toMatch(/INSERT INTO products/);
    expect(text).not.toMatch(/allocation_versions_checked/);
    expect(values).toEqual([['NEW'], [1], ['b1'], ['NEW'], [10], [0], ['2030-01-01']]);
  });

  it('saves several products in one statement, checking every version, with the same text for 2 products as for 60', () => {
    const statements = [2, 60].map((n) => {
      const products = Array.from({ length: n }, (_, i) => new Product(`SKU-${i}`, [new Batch(`b-${i}`, `SKU-${i}`, 10, null)], 3));
      const changes = products.map((p) => ({ before: productState(p), after: productState(p) }));
      products.forEach((p, i) => p.allocate(new OrderLine(`o-${i}`, p.sku, 2)));
      products.forEach((p, i) => (changes[i].after = productState(p)));
      const events = products.flatMap((p) => p.events.splice(0));
      return productStatement(changes, new OutboxRows(events, events.map((_, i) => ({ requestId: `req-${i}` }))), 1000)!;
    });
    expect(statements[1].text).toBe(statements[0].text);
    expect(statements[1].text).toMatch(/FROM unnest\(\$1::varchar\[\], \$2::int\[\],\s+\$3::int\[\]\) AS c\(sku, before, after\)/);
    expect(statements[1].values.slice(0, 3)).toEqual([Array.from({ length: 60 }, (_, i) => `SKU-${i}`), Array(60).fill(3), Array(60).fill(4)]);
    expect(statements[1].values).toContainEqual(Array.from({ length: 60 }, (_, i) => `req-${i}`)); // each event its own request
    expect(statements[1].values.at(-1)).toBe(60); // every version must have matched
  });

  it('writes the events of an unchanged product beside the changes of another', () => {
    const changedOne = new Product('A', [new Batch('a', 'A', 10, null)], 1);
    const soldOut = new Product('B', [new Batch('b', 'B', 1, null)], 5);
    const changes = [changedOne, soldOut].map((p) => ({ before: productState(p), after: productState(p) }));
    changedOne.allocate(new OrderLine('o1', 'A', 3));
    soldOut.allocate(new OrderLine('o2', 'B', 3));
    changes[0].after = productState(changedOne);
    const { text, values } = productStatement(changes, new OutboxRows([...changedOne.events, ...soldOut.events], {}), 1000)!;
    expect(text).toMatch(/UPDATE products SET version = \$1::int WHERE sku = \$2::varchar AND version = \$3::int/); // only A's
    expect(values).toContainEqual(['Allocated', 'OutOfStock']);
    expect(values.at(-1)).toBe(1);
  });

  it('has the same text and number of parameters for 1 line as for 50,000 (PostgreSQL allows 65,535)', () => {
    const statements = [1, 50_000].map((n) => {
      const product = productWithLines(n);
      const before = productState(product);
      product.changeBatchQuantity('full', 0);
      return productStatement([{ before, after: productState(product) }], rows(product), 1000)!;
    });
    expect(statements[1].text).toBe(statements[0].text);
    expect(statements[1].values).toHaveLength(statements[0].values.length);
    expect(statements[1].values.length).toBeLessThan(20);
    expect(statements[1].values.filter((v) => Array.isArray(v) && v.length === 50_000)).toHaveLength(3 + 5); // removed lines, events
    // The events' one origin travels once, not 50,000 times.
    expect(statements[1].values).toContainEqual(['req-1']);
    expect(statements[1].values).toContainEqual([TRACEPARENT]);
  });
});
