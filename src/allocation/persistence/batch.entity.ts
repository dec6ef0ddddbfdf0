import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

@Entity('batches')
@Index('batches_sku_idx', ['sku'])
export class BatchEntity {
  @PrimaryColumn({ type: 'varchar', length: 255 })
  reference: string;

  @Column({ type: 'varchar', length: 255 })
  sku: string;

  @Column({ name: 'purchased_quantity', type: 'integer' })
  purchasedQuantity: number;

  /** Kept equal to the sum of the batch's allocations, so allocating never has to sum them. */
  @Column({ name: 'allocated_quantity', type: 'integer', default: 0 })
  allocatedQuantity: number;

  /** `YYYY-MM-DD`, or null for stock in the warehouse. */
  @Column({ type: 'date', nullable: true })
  eta: string | null;
}
