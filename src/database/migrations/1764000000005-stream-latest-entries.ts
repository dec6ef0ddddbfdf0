import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The newest inbound stream entry per (stream, key): older entries claimed late are superseded. */
export class StreamLatestEntries1764000000005 implements MigrationInterface {
  name = 'StreamLatestEntries1764000000005';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE stream_latest_entries (
        stream varchar(255) NOT NULL,
        key varchar(255) NOT NULL,
        entry_ms bigint NOT NULL,
        entry_seq bigint NOT NULL,
        data text NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT stream_latest_entries_pkey PRIMARY KEY (stream, key)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE stream_latest_entries`);
  }
}
