import { describe, expect, it } from '@jest/globals';
import { Batch, OrderLine, OutOfStock, Product } from '../../src/allocation/domain/index.js';
import { productState, productStatement } from '../../src/allocation/persistence/product-statement.js';
import { OutboxRows } from '../../src/messaging/outbox.store.js';

const rows = (product: Product) => new OutboxRows(product.events.splice(0), 'req-1');

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
    expect(statement.values).toEqual([[expect.any(String)], ['OutOfStock'], ['SKU'], ['{"sku":"SKU"}'], 'req-1', 1000]);
  });

  it('checks the version read, and writes the new line, the counter and the event', () => {
    const product = productWithLines(1);
    const before = productState(product);
    product.allocate(new OrderLine('o-new', 'SKU', 5));
    const { text, values } = productStatement(before, productState(product), rows(product), 1000)!;
    expect(text).toMatch(/UPDATE products SET version = \$1::int WHERE sku = \$2::varchar AND version = \$3::int/);
    expect(values.slice(0, 3)).toEqual([8, 'SKU', 7]);
    expect(values.slice(3, 7)).toEqual([[], [], [], []]); // no new batch
    expect(values.slice(7, 10)).toEqual([['room'], [100], [5]]); // the batch whose counter changed
    expect(values.slice(10, 12)).toEqual([[], []]); // no line removed
    expect(values.slice(12, 15)).toEqual([['o-new'], [5], ['room']]);
    expect(values[16]).toEqual(['Allocated']);
  });

  it('inserts a new product, with no version to check', () => {
    const product = new Product('NEW');
    product.addBatch('b1', 10, '2030-01-01');
    const { text, values } = productStatement(undefined, productState(product), rows(product), 1000)!;
    expect(text).toMatch(/INSERT INTO products/);
    expect(values.slice(0, 7)).toEqual([1, 'NEW', null, ['b1'], [10], [0], ['2030-01-01']]);
  });

  it('has the same text and number of parameters for 1 line as for 50,000 (PostgreSQL allows 65,535)', () => {
    const statements = [1, 50_000].map((n) => {
      const product = productWithLines(n);
      const before = productState(product);
      product.changeBatchQuantity('full', 0);
      return productStatement(before, productState(product), rows(product), 1000)!;
    });
    expect(statements[1].text).toBe(statements[0].text);
    expect(statements[1].values).toHaveLength(21);
    expect(statements[0].values).toHaveLength(21);
    expect((statements[1].values[10] as string[]).length).toBe(50_000); // every line removed, as one array
    expect((statements[1].values[16] as string[]).length).toBe(50_000); // and as many Deallocated events
  });
});
