import { Column, Entity, PrimaryColumn } from 'typeorm';

/** An e-mail already sent, by event: a redelivered event does not e-mail twice. */
@Entity('sent_notifications')
export class SentNotificationEntity {
  @PrimaryColumn({ name: 'event_id', type: 'uuid', primaryKeyConstraintName: 'sent_notifications_pkey' })
  eventId: string;

  @Column({ name: 'sent_at', type: 'timestamptz', default: () => 'now()' })
  sentAt: Date;
}
