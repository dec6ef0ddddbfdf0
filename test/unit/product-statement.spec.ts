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

describe('productStatement: one statement per saved product, from its state before and after', () => {
  it('writes nothing when nothing changed and nothing happened', () => {
    const product = productWithLines(1);
    expect(productStatement(productState(product), productState(product), rows(product), 1000)).toBeUndefined();
  });

  it('writes only the events when the product did not change (out of stock)', () => {
    const product = productWithLines(1);
    const before = productState(product);
    product.allocate(new OrderLine('big', 'SKU', 1000));
    expect(product.events).toEqual([new OutOfStock('SKU')]);
    const statement = productStatement(before, productState(product), rows(product), 1000)!;
    expect(statement.text).not.toMatch(/products|batches|allocations/);
    expect(statement.values).toEqual([[expect.any(String)], ['OutOfStock'], ['SKU'], ['{"sku":"SKU"}'], 'req-1', TRACEPARENT, 1000]);
  });

  it('checks the version read, and writes the new line, the counter and the event, and nothing else', () => {
    const product = productWithLines(1);
    const before = productState(product);
    product.allocate(new OrderLine('o-new', 'SKU', 5));
    const { text, values } = productStatement(before, productState(product), rows(product), 1000)!;
    expect(text).toMatch(/UPDATE products SET version = \$2::int WHERE sku = \$1::varchar AND version = \$3::int/);
    expect(text).not.toMatch(/new_batches|removed_lines/);
    expect(values.slice(0, 9)).toEqual(['SKU', 8, 7, 100, 5, 'room', ['o-new'], [5], ['room']]);
    expect(values.slice(9)).toEqual([[expect.any(String)], ['Allocated'], ['SKU'], [expect.stringContaining('"orderid":"o-new"')], 'req-1', TRACEPARENT, 1000]);
  });

  it('inserts a new product, with no version to check', () => {
    const product = new Product('NEW');
    product.addBatch('b1', 10, '2030-01-01');
    const { text, values } = productStatement(undefined, productState(product), rows(product), 1000)!;
    expect(text).toMatch(/INSERT INTO products/);
    expect(values).toEqual(['NEW', 1, ['b1'], [10], [0], ['2030-01-01']]);
  });

  it('has the same text and number of parameters for 1 line as for 50,000 (PostgreSQL allows 65,535)', () => {
    const statements = [1, 50_000].map((n) => {
      const product = productWithLines(n);
      const before = productState(product);
      product.changeBatchQuantity('full', 0);
      return productStatement(before, productState(product), rows(product), 1000)!;
    });
    expect(statements[1].text).toBe(statements[0].text);
    expect(statements[1].values).toHaveLength(statements[0].values.length);
    expect(statements[1].values.length).toBeLessThan(20);
    expect(statements[1].values.filter((v) => Array.isArray(v) && v.length === 50_000)).toHaveLength(2 + 4); // removed lines, events
  });
});
