import { Column, Entity, PrimaryColumn } from 'typeorm';

/** The read model behind GET /allocations/{orderid}: one row per allocated line, kept by a projector. */
@Entity('allocations_view')
export class AllocationsViewEntity {
  @PrimaryColumn({ type: 'varchar', length: 255, primaryKeyConstraintName: 'allocations_view_pkey' })
  orderid: string;

  @PrimaryColumn({ type: 'varchar', length: 255, primaryKeyConstraintName: 'allocations_view_pkey' })
  sku: string;

  @Column({ name: 'batch_reference', type: 'varchar', length: 255 })
  batchReference: string;
}
