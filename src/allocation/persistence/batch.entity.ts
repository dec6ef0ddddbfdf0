import { Check, Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn, type Relation } from 'typeorm';
import { ProductEntity } from './product.entity.js';

@Entity('batches')
@Index('batches_sku_idx', ['sku'])
// The batches an allocation can pick from (see product.repository.ts): few, however long the SKU's history.
@Index('batches_with_room_idx', ['sku'], { where: 'purchased_quantity > allocated_quantity' })
@Check('batches_purchased_quantity_check', 'purchased_quantity >= 0')
// The last line of defence against over-allocation: no bug above can commit it.
@Check('batches_allocation_fits', 'allocated_quantity BETWEEN 0 AND purchased_quantity')
export class BatchEntity {
  @PrimaryColumn({ type: 'varchar', length: 255, primaryKeyConstraintName: 'batches_pkey' })
  reference: string;

  @Column({ type: 'varchar', length: 255 })
  sku: string;

  /** Loaded only when joined. */
  @ManyToOne(() => ProductEntity, { nullable: false })
  @JoinColumn({ name: 'sku', referencedColumnName: 'sku', foreignKeyConstraintName: 'batches_sku_fkey' })
  product: Relation<ProductEntity>;

  @Column({ name: 'purchased_quantity', type: 'integer' })
  purchasedQuantity: number;

  /** Kept equal to the sum of the batch's allocations, so allocating never has to sum them. */
  @Column({ name: 'allocated_quantity', type: 'integer', default: 0 })
  allocatedQuantity: number;

  /** `YYYY-MM-DD`, or null for stock in the warehouse. */
  @Column({ type: 'date', nullable: true })
  eta: string | null;
}
