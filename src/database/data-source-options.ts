import type { DataSourceOptions } from 'typeorm';
import { AllocationEntity } from '../allocation/persistence/allocation.entity.js';
import { BatchEntity } from '../allocation/persistence/batch.entity.js';
import { ProductEntity } from '../allocation/persistence/product.entity.js';
import { EventDeliveryEntity } from '../messaging/event-delivery.entity.js';
import { OutboxEntity } from '../messaging/outbox.entity.js';
import { SentNotificationEntity } from '../messaging/sent-notification.entity.js';
import { StreamLatestEntryEntity } from '../external-events/stream-latest-entry.entity.js';
import { InitialSchema1764000000000 } from './migrations/1764000000000-initial-schema.js';
import { Outbox1764000000001 } from './migrations/1764000000001-outbox.js';
import { OutboxExternalMessages1764000000002 } from './migrations/1764000000002-outbox-external-messages.js';
import { DeadLetterIndexAscending1764000000003 } from './migrations/1764000000003-dead-letter-index-ascending.js';
import { DropAllocationsView1764000000004 } from './migrations/1764000000004-drop-allocations-view.js';
import { StreamLatestEntries1764000000005 } from './migrations/1764000000005-stream-latest-entries.js';
import { DeadLetterHistory1764000000006 } from './migrations/1764000000006-dead-letter-history.js';
import { OutboxTraceparent1764000000007 } from './migrations/1764000000007-outbox-traceparent.js';
import { BatchesWithRoom1764000000008 } from './migrations/1764000000008-batches-with-room.js';
import { VersionsChecked1764000000009 } from './migrations/1764000000009-versions-checked.js';

// ESM: entities and migrations are listed as classes, not globs. The entities describe the schema the
// migrations build, exactly (test/integration/schema.spec.ts): a change to one needs the other.
export const entities = [
  ProductEntity,
  BatchEntity,
  AllocationEntity,
  OutboxEntity,
  EventDeliveryEntity,
  SentNotificationEntity,
  StreamLatestEntryEntity,
];
export const migrations = [
  InitialSchema1764000000000,
  Outbox1764000000001,
  OutboxExternalMessages1764000000002,
  DeadLetterIndexAscending1764000000003,
  DropAllocationsView1764000000004,
  StreamLatestEntries1764000000005,
  DeadLetterHistory1764000000006,
  OutboxTraceparent1764000000007,
  BatchesWithRoom1764000000008,
  VersionsChecked1764000000009,
];

export function dataSourceOptions(url: string, poolSize = 10): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities,
    migrations,
    migrationsTableName: 'migrations',
    synchronize: false,
    migrationsRun: false, // run at start under an advisory lock (see migrate.ts)
    poolSize,
    extra: {
      // A command never waits for a lock or a statement forever: the wait becomes a retry, then a 503.
      options: '-c lock_timeout=5000 -c statement_timeout=30000',
      connectionTimeoutMillis: 5000,
      // Statements sent without awaiting the previous one travel at once (unit-statements.ts); awaited ones behave as ever.
      pipeline: true,
    },
  };
}
