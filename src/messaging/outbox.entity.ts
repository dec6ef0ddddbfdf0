import { Column, Entity, Index, PrimaryGeneratedColumn, Unique } from 'typeorm';

/**
 * An event written in the command's transaction (or a message received from another system). It is leased
 * (`claimedUntil`) by whoever dispatches it: first the instance that committed it, then, should that one
 * die, any relay once the lease ran out.
 */
@Entity('outbox')
@Unique('outbox_event_id_key', ['eventId'])
@Index('outbox_undispatched_idx', ['id'], { where: 'dispatched_at IS NULL' })
@Index('outbox_dispatched_at_idx', ['dispatchedAt'], { where: 'dispatched_at IS NOT NULL' })
export class OutboxEntity {
  @PrimaryGeneratedColumn({ type: 'bigint', primaryKeyConstraintName: 'outbox_pkey' })
  id: string;

  @Column({ name: 'event_id', type: 'uuid' })
  eventId: string;

  /** The event's class name. */
  @Column({ type: 'varchar', length: 100 })
  name: string;

  /** Null for messages from other systems. */
  @Column({ type: 'varchar', length: 255, nullable: true })
  sku: string | null;

  @Column({ type: 'jsonb' })
  payload: Record<string, unknown>;

  @Column({ name: 'request_id', type: 'varchar', length: 200, nullable: true })
  requestId: string | null;

  /** The W3C trace context of the work that recorded the event; null when not traced. */
  @Column({ type: 'varchar', length: 100, nullable: true })
  traceparent: string | null;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt: Date;

  @Column({ name: 'claimed_until', type: 'timestamptz', default: () => 'now()' })
  claimedUntil: Date;

  @Column({ name: 'dispatched_at', type: 'timestamptz', nullable: true })
  dispatchedAt: Date | null;
}
