import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { CommandBus, EventsHandler } from '@nestjs/cqrs';
import type { ChangeBatchQuantity } from '../allocation/commands/change-batch-quantity/change-batch-quantity.command.js';
import { DomainError } from '../allocation/domain/errors.js';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { DeliveryRunner } from '../messaging/delivery-runner.js';
import { EventHandler } from '../messaging/event-handler.js';
import { OutboxDispatcher } from '../messaging/outbox.dispatcher.js';
import { contextOf, inSpan, SpanKind } from '../tracing/trace-context.js';
import { CHANGE_BATCH_QUANTITY } from './change-batch-quantity.consumer.js';
import { MalformedMessage, parseChangeBatchQuantity } from './change-batch-quantity.message.js';
import { RedisConnections } from './redis.connections.js';
import { RedisNames } from './redis-names.js';
import { StreamEntryReceived } from './stream-entry-received.js';
import { type StreamEntry, StreamGroupReader } from './stream-group.reader.js';
import { StreamInbox } from './stream-inbox.js';
import { CONSUMER_GROUP, StreamMetrics } from './stream.metrics.js';

/**
 * The entry as it can be stored: PostgreSQL stores no NUL and no unpaired surrogate (in text or jsonb), so
 * data holding either is stored with them replaced, and marked unreadable: it becomes a dead letter.
 */
function receivedEntry(id: string, data: string): StreamEntryReceived {
  if (!data.includes('\u0000') && data.isWellFormed()) return new StreamEntryReceived(CHANGE_BATCH_QUANTITY, id, data);
  const storable = data.toWellFormed().replaceAll('\u0000', '\ufffd');
  return new StreamEntryReceived(CHANGE_BATCH_QUANTITY, id, storable, 'data holds NUL or unpaired surrogates (replaced by U+FFFD here)');
}

/** A newer entry kept arriving while this one was applied: let the delivery be retried later. */
class StillChanging extends Error {}
const MAX_ROUNDS = 5;

/**
 * Consumes Redis stream `<prefix>change_batch_quantity` (field `data`: `{"batchref": "...", "qty": N}`)
 * through consumer group `allocation-service`, as ChangeBatchQuantity commands. Every instance is a consumer;
 * Redis hands each entry to one of them. An entry is stored in the inbox (with the newest entry per batch,
 * StreamInbox) and acknowledged once that commits; then it is applied like any event handler's work.
 *
 * Entries claimed from a dead consumer can arrive after newer ones, and two instances can apply entries of
 * one batch at the same time; the newest quantity must win. So an entry older than the newest received for
 * its batch is superseded (never stored), and every delivery sets the newest received quantity (not its
 * own), then checks that no newer one arrived meanwhile (if one did, it sets that one too): whatever the
 * order in which instances commit, and however deliveries are retried, the last write is of the newest.
 */
@EventsHandler(StreamEntryReceived)
@Injectable()
export class ChangeBatchQuantityStreamConsumer extends EventHandler<StreamEntryReceived> implements OnApplicationBootstrap, BeforeApplicationShutdown {
  readonly handlerName = 'ChangeBatchQuantityStreamConsumer';
  private readonly logger = new Logger(ChangeBatchQuantityStreamConsumer.name);
  readonly reader: StreamGroupReader;

  constructor(
    redis: RedisConnections,
    names: RedisNames,
    runner: DeliveryRunner,
    private readonly inbox: StreamInbox,
    private readonly commandBus: CommandBus,
    private readonly dispatcher: OutboxDispatcher,
    private readonly metrics: StreamMetrics,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    super();
    metrics.watch(CHANGE_BATCH_QUANTITY);
    this.reader = new StreamGroupReader(redis.streamReader, redis.commands, {
      key: names.of(CHANGE_BATCH_QUANTITY),
      group: CONSUMER_GROUP,
      claimIdleMs: config.redisClaimIdleMs,
      take: (entries) => this.take(entries),
      ready: () => runner.ready(),
    });
  }

  onApplicationBootstrap(): void {
    this.reader.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.reader.stop();
  }

  async apply(entry: StreamEntryReceived): Promise<void> {
    const count = (outcome: string) => this.metrics.entries.inc({ stream: entry.stream, outcome });
    let command: ChangeBatchQuantity;
    try {
      if (entry.unreadable) throw new MalformedMessage(entry.unreadable);
      command = parseChangeBatchQuantity(entry.data);
    } catch (error) {
      count('malformed');
      throw error;
    }
    // Every delivery sets the newest quantity received for the batch, never its own if a newer one exists:
    // so a delivery retried after a failure, or redelivered after a crash, can only write the newest.
    let newest = (await this.inbox.latest(entry.stream, command.ref)) ?? { entryId: entry.entryId, data: entry.data };
    const own = newest.entryId === entry.entryId;
    for (let round = 1; ; round++) {
      try {
        await this.commandBus.execute(parseChangeBatchQuantity(newest.data));
      } catch (error) {
        if (error instanceof DomainError) count('rejected');
        throw error;
      }
      const now = await this.inbox.latest(entry.stream, command.ref);
      if (!now || now.entryId === newest.entryId) break;
      // A newer entry arrived while this one was applied, and its own delivery may have committed first.
      if (round === MAX_ROUNDS) throw new StillChanging(`batch ${command.ref} kept changing while entry ${entry.entryId} was applied`);
      newest = now;
    }
    count(own ? 'applied' : 'superseded');
  }

  /** Stores entries in the inbox, one by one, and hands the stored ones over; returns the ids to acknowledge. */
  private async take(entries: StreamEntry[]): Promise<string[]> {
    const done: string[] = [];
    for (const { id, fields } of entries) {
      if (fields === null) {
        done.push(id); // trimmed from the stream before it was read: nothing left to apply
        continue;
      }
      const entry = receivedEntry(id, fields.data ?? '');
      let key: string | undefined;
      try {
        key = entry.unreadable ? undefined : parseChangeBatchQuantity(entry.data).ref;
      } catch {
        key = undefined; // stored as it is: applying it makes it a dead letter
      }
      try {
        // Its receipt continues the producer's trace (its `traceparent` field), and its delivery joins it.
        const received = await inSpan(
          `receive ${CHANGE_BATCH_QUANTITY}`,
          {
            kind: SpanKind.CONSUMER,
            parent: contextOf(fields.traceparent),
            attributes: () => ({ 'messaging.system': 'redis', 'messaging.operation.type': 'receive', 'messaging.destination.name': CHANGE_BATCH_QUANTITY, 'messaging.message.id': id }),
          },
          () => this.inbox.receive(entry, key, this.config.outboxLeaseMs),
        );
        if (received.outcome === 'stored') void this.dispatcher.publish(received.stored);
        else this.metrics.entries.inc({ stream: CHANGE_BATCH_QUANTITY, outcome: received.outcome });
        done.push(id);
      } catch (error) {
        if (String((error as { code?: unknown }).code).startsWith('22')) {
          // PostgreSQL refuses the data itself (SQLSTATE class 22): it never will store it. Dropped, loudly,
          // rather than left pending to block every entry behind it.
          this.metrics.entries.inc({ stream: CHANGE_BATCH_QUANTITY, outcome: 'malformed' });
          this.logger.error({ msg: `stream entry ${id} cannot be stored; acknowledged and dropped`, error: (error as Error).message });
          done.push(id);
          continue;
        }
        // Left pending: it is offered again (to this instance, or to another if this one dies).
        this.logger.warn({ msg: `could not store stream entry ${id}; it stays pending`, error: (error as Error).message });
        break;
      }
    }
    return done;
  }
}
