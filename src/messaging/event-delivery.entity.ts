import { Check, Column, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn, type Relation, Unique } from 'typeorm';
import { OutboxEntity } from './outbox.entity.js';

/** What happened to a failed delivery, oldest first: its failed attempts and every operator action. */
export interface DeliveryHistoryEntry {
  at: string;
  action: 'attempt_failed' | 'dead_lettered' | 'retried' | 'discarded';
  attempt?: number;
  error?: string;
  /** Of an operator's retry. */
  outcome?: 'delivered' | 'failed';
  /** Of a discard. */
  reason?: string;
  by?: 'operator';
}

/**
 * One (event, handler) delivery that failed: retried with back-off until it succeeds (row deleted) or runs
 * out of attempts (status 'dead': a dead letter for operators). An operator may retry a dead letter (on
 * success it is kept as 'delivered') or discard it ('discarded': kept, never retried again).
 */
@Entity('event_deliveries')
@Unique('event_deliveries_outbox_id_handler_key', ['outboxId', 'handler'])
@Check('event_deliveries_status_check', `status IN ('retrying', 'dead', 'discarded', 'delivered')`)
@Index('event_deliveries_due_idx', ['nextAttemptAt'], { where: `status = 'retrying'` })
@Index('event_deliveries_dead_idx', ['updatedAt', 'id'], { where: `status = 'dead'` })
export class EventDeliveryEntity {
  @PrimaryGeneratedColumn({ type: 'bigint', primaryKeyConstraintName: 'event_deliveries_pkey' })
  id: string;

  @Column({ name: 'outbox_id', type: 'bigint' })
  outboxId: string;

  /** Loaded only when joined. */
  @ManyToOne(() => OutboxEntity, { nullable: false })
  @JoinColumn({ name: 'outbox_id', foreignKeyConstraintName: 'event_deliveries_outbox_id_fkey' })
  outbox: Relation<OutboxEntity>;

  /** The handler's stable name (DurableHandler.handlerName). */
  @Column({ type: 'varchar', length: 100 })
  handler: string;

  @Column({ type: 'varchar', length: 10 })
  status: 'retrying' | 'dead' | 'discarded' | 'delivered';

  @Column({ type: 'integer' })
  attempts: number;

  @Column({ name: 'next_attempt_at', type: 'timestamptz' })
  nextAttemptAt: Date;

  @Column({ name: 'claimed_until', type: 'timestamptz', default: () => 'now()' })
  claimedUntil: Date;

  @Column({ name: 'last_error', type: 'text' })
  lastError: string;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt: Date;

  /** When the last attempt failed (or an operator last acted on it). */
  @Column({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' })
  updatedAt: Date;

  @Column({ type: 'jsonb', default: '[]' })
  history: DeliveryHistoryEntry[];
}
