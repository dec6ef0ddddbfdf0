import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { CommandBus, EventsHandler } from '@nestjs/cqrs';
import type { ChangeBatchQuantity } from '../allocation/commands/change-batch-quantity/change-batch-quantity.command.js';
import { DomainError } from '../allocation/domain/errors.js';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { EventHandler } from '../messaging/event-handler.js';
import { Metrics } from '../messaging/metrics.js';
import { OutboxDispatcher } from '../messaging/outbox.dispatcher.js';
import { OutboxStore } from '../messaging/outbox.store.js';
import { contextOf, currentTraceparent, inSpan, SpanKind } from '../tracing/trace-context.js';
import { parseChangeBatchQuantity } from './change-batch-quantity.message.js';
import { ExternalMessageReceived } from './external-message-received.js';
import { LeaderLock } from './leader-lock.js';
import { RedisConnections } from './redis.connections.js';
import { RedisNames } from './redis-names.js';

export const CHANGE_BATCH_QUANTITY = 'change_batch_quantity';
const LEADER_KEY = 'allocation-service:consumer-leader:change_batch_quantity';

/**
 * Consumes Redis channel `<prefix>change_batch_quantity` (`{"batchref": "...", "qty": N}`) as
 * ChangeBatchQuantity commands. Pub/sub hands every message to every subscriber, so only the holder of the
 * leader lock subscribes: each message is processed once. A message is first stored in the
 * outbox (as an inbox; its channel under the name in code, without the prefix), then handled like any
 * event: a malformed or rejected one becomes a dead letter at once, a transient failure is retried.
 */
@EventsHandler(ExternalMessageReceived)
@Injectable()
export class ChangeBatchQuantityConsumer extends EventHandler<ExternalMessageReceived> implements OnApplicationBootstrap, BeforeApplicationShutdown {
  readonly handlerName = 'ChangeBatchQuantityConsumer';
  private readonly logger = new Logger(ChangeBatchQuantityConsumer.name);
  private readonly channel: string;
  private readonly lock: LeaderLock;

  constructor(
    private readonly redis: RedisConnections,
    names: RedisNames,
    private readonly commandBus: CommandBus,
    private readonly store: OutboxStore,
    private readonly dispatcher: OutboxDispatcher,
    private readonly metrics: Metrics,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    super();
    this.channel = names.of(CHANGE_BATCH_QUANTITY);
    this.lock = new LeaderLock(redis.commands, names.of(LEADER_KEY), {
      lead: async () => {
        await redis.subscriber.subscribe(this.channel);
        this.logger.log({ msg: `consuming ${this.channel} (leader)` });
      },
      follow: async () => {
        this.logger.warn({ msg: `no longer consuming ${this.channel}` });
        // Not awaited: a hung Redis must not hold up a shutdown; messages are ignored from now on anyway.
        redis.subscriber.unsubscribe(this.channel).catch(() => undefined);
      },
    });
  }

  get isLeader(): boolean {
    return this.lock.isLeader;
  }

  onApplicationBootstrap(): void {
    this.redis.subscriber.on('message', (channel: string, data: string) => {
      if (channel === this.channel && this.lock.isLeader) void this.receive(data);
    });
    this.redis.subscriber.on('ready', () => void this.lock.campaign()); // after a Redis restart
    void this.lock.campaign();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.lock.stop();
  }

  async apply(event: ExternalMessageReceived): Promise<void> {
    if (event.channel !== CHANGE_BATCH_QUANTITY) return;
    let command: ChangeBatchQuantity;
    try {
      command = parseChangeBatchQuantity(event.data);
    } catch (error) {
      this.metrics.inbound.inc({ channel: event.channel, outcome: 'malformed' });
      throw error;
    }
    try {
      await this.commandBus.execute(command);
    } catch (error) {
      this.metrics.inbound.inc({ channel: event.channel, outcome: error instanceof DomainError ? 'rejected' : 'failed' });
      throw error;
    }
    this.metrics.inbound.inc({ channel: event.channel, outcome: 'processed' });
  }

  /** Stores the message, then hands it to the handler, as a committed event would be. */
  private async receive(data: string): Promise<void> {
    let stored;
    try {
      // A message carries no trace context: its receipt starts a trace, which its delivery joins.
      stored = await inSpan(
        `receive ${CHANGE_BATCH_QUANTITY}`,
        { kind: SpanKind.CONSUMER, parent: contextOf(undefined), attributes: () => ({ 'messaging.system': 'redis', 'messaging.operation.type': 'receive', 'messaging.destination.name': CHANGE_BATCH_QUANTITY }) },
        () => this.store.append([new ExternalMessageReceived(CHANGE_BATCH_QUANTITY, data)], { traceparent: currentTraceparent() }, this.config.outboxLeaseMs),
      );
    } catch (error) {
      // Pub/sub cannot redeliver: say loudly what was lost.
      this.metrics.inbound.inc({ channel: CHANGE_BATCH_QUANTITY, outcome: 'lost' });
      this.logger.error({ msg: 'could not store an inbound message; it is lost', data, error: (error as Error).message });
      return;
    }
    await this.dispatcher.publish(stored);
  }
}
