import { type IQueryHandler, QueryHandler } from '@nestjs/cqrs';
import { DataSource } from 'typeorm';
import { type BatchView, GetProduct, type ProductView } from './get-product.query.js';

@QueryHandler(GetProduct)
export class GetProductHandler implements IQueryHandler<GetProduct> {
  constructor(private readonly dataSource: DataSource) {}

  async execute({ sku }: GetProduct): Promise<ProductView | null> {
    // One statement, so the version and the batches come from the same snapshot.
    const rows: ({ version: number } & Partial<BatchView>)[] = await this.dataSource.query(
      `SELECT p.version, b.reference AS ref, to_char(b.eta, 'YYYY-MM-DD') AS eta,
              b.purchased_quantity AS qty, b.allocated_quantity AS allocated
         FROM products p LEFT JOIN batches b ON b.sku = p.sku
        WHERE p.sku = $1
        ORDER BY b.eta ASC NULLS FIRST, b.reference`,
      [sku],
    );
    if (rows.length === 0) return null;
    return {
      sku,
      version: rows[0].version,
      batches: rows
        .filter((r) => r.ref != null)
        .map((r) => ({
          ref: r.ref!,
          eta: r.eta ?? null,
          qty: r.qty!,
          allocated: r.allocated!,
          available: Math.max(0, r.qty! - r.allocated!),
        })),
    };
  }
}
