import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/** An order line allocated to a batch. `id` gives the allocation order (newest are deallocated first). */
@Entity('allocations')
@Index('allocations_line_key', ['orderid', 'sku'], { unique: true })
@Index('allocations_batch_idx', ['batchReference', 'id'])
export class AllocationEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id: string;

  @Column({ type: 'varchar', length: 255 })
  orderid: string;

  @Column({ type: 'varchar', length: 255 })
  sku: string;

  @Column({ type: 'integer' })
  qty: number;

  @Column({ name: 'batch_reference', type: 'varchar', length: 255 })
  batchReference: string;
}
