import { Inject } from '@nestjs/common';
import type { Envelope, Event } from '../messaging/event.js';
import { EventHandler } from '../messaging/event-handler.js';
import { RedisConnections } from './redis.connections.js';
import { RedisNames } from './redis-names.js';
import { StreamWriter } from './stream.writer.js';

/**
 * An event told to other systems on a Redis channel (`<prefix><channel>`, the book's pub/sub): a handler
 * behind the outbox, so a publication that fails (Redis down) is retried and, at worst, a dead letter.
 */
export abstract class ChannelPublisher<E extends Event> extends EventHandler<E> {
  @Inject(RedisConnections) private readonly redis!: RedisConnections;
  @Inject(RedisNames) private readonly names!: RedisNames;
  protected abstract readonly channel: string;
  /** The message's JSON body. */
  protected abstract message(event: E): Record<string, unknown>;

  async apply(event: E): Promise<void> {
    await this.redis.commands.publish(this.names.of(this.channel), JSON.stringify(this.message(event)));
  }
}

/**
 * The same, as an entry of a Redis stream (field `data`: the channel's JSON; field `event_id`: for consumers
 * to drop the copy a redelivery may add). A handler of its own beside the channel's: each is retried on
 * its own, so a retry of one never repeats the other.
 */
export abstract class StreamPublisher<E extends Event> extends EventHandler<E> {
  @Inject(StreamWriter) private readonly streams!: StreamWriter;
  protected abstract readonly stream: string;
  protected abstract message(event: E): Record<string, unknown>;

  async apply(event: E, { eventId }: Envelope): Promise<void> {
    await this.streams.add(this.stream, this.message(event), eventId);
  }
}

/** What the outbound messages about one order line say (the book's `line_allocated` format). */
export function lineMessage({ orderid, sku, qty, batchref }: { orderid: string; sku: string; qty: number; batchref: string }): Record<string, unknown> {
  return { orderid, sku, qty, batchref };
}
