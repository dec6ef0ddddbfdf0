import { Query } from '@nestjs/cqrs';

export interface BatchView {
  ref: string;
  eta: string | null;
  qty: number;
  allocated: number;
  available: number;
}

export interface ProductView {
  sku: string;
  version: number;
  batches: BatchView[];
}

/** A product's batches and stock, in allocation preference order; null when the SKU is unknown. */
export class GetProduct extends Query<ProductView | null> {
  constructor(readonly sku: string) {
    super();
  }
}
