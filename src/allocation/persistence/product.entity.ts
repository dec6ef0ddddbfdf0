import { Column, Entity, PrimaryColumn } from 'typeorm';

@Entity('products')
export class ProductEntity {
  @PrimaryColumn({ type: 'varchar', length: 255, primaryKeyConstraintName: 'products_pkey' })
  sku: string;

  /** Bumped by every change to the product; concurrent commands on one SKU contend for this row. */
  @Column({ type: 'integer', default: 0 })
  version: number;
}
