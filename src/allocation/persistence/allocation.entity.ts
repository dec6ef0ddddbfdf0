import { Check, Column, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn, type Relation } from 'typeorm';
import { BatchEntity } from './batch.entity.js';

/** An order line allocated to a batch. `id` gives the allocation order (newest are deallocated first). */
@Entity('allocations')
@Index('allocations_line_key', ['orderid', 'sku'], { unique: true })
@Index('allocations_batch_idx', ['batchReference', 'id'])
@Check('allocations_qty_check', 'qty > 0')
export class AllocationEntity {
  @PrimaryGeneratedColumn({ type: 'bigint', primaryKeyConstraintName: 'allocations_pkey' })
  id: string;

  @Column({ type: 'varchar', length: 255 })
  orderid: string;

  @Column({ type: 'varchar', length: 255 })
  sku: string;

  @Column({ type: 'integer' })
  qty: number;

  @Column({ name: 'batch_reference', type: 'varchar', length: 255 })
  batchReference: string;

  /** Loaded only when joined. */
  @ManyToOne(() => BatchEntity, { nullable: false })
  @JoinColumn({ name: 'batch_reference', referencedColumnName: 'reference', foreignKeyConstraintName: 'allocations_batch_reference_fkey' })
  batch: Relation<BatchEntity>;
}
