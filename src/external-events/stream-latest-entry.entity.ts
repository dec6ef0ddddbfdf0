import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * The newest entry received so far from an inbound stream for one key (a batch), written in the same
 * statement as the entry's inbox row. An entry older than it is superseded: it is acknowledged and never
 * applied, so that an entry claimed late from a dead consumer cannot overwrite a newer quantity.
 */
@Entity('stream_latest_entries')
export class StreamLatestEntryEntity {
  /** The stream's name in code (without REDIS_KEY_PREFIX). */
  @PrimaryColumn({ type: 'varchar', length: 255, primaryKeyConstraintName: 'stream_latest_entries_pkey' })
  stream: string;

  @PrimaryColumn({ type: 'varchar', length: 255, primaryKeyConstraintName: 'stream_latest_entries_pkey' })
  key: string;

  /** The entry's id, `<ms>-<seq>`, as two numbers so that ids compare in stream order. */
  @Column({ name: 'entry_ms', type: 'bigint' })
  entryMs: string;

  @Column({ name: 'entry_seq', type: 'bigint' })
  entrySeq: string;

  /** The entry's `data` field, as received. */
  @Column({ type: 'text' })
  data: string;

  @Column({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' })
  updatedAt: Date;
}
