import { type DynamicModule, Global, Inject, Module, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { AppConfig } from '../config/config.js';
import { AllocationCancelledPublisher } from './allocation-cancelled.publisher.js';
import { AllocationCancelledStreamPublisher } from './allocation-cancelled.stream-publisher.js';
import { ChangeBatchQuantityConsumer } from './change-batch-quantity.consumer.js';
import { ChangeBatchQuantityStreamConsumer } from './change-batch-quantity.stream-consumer.js';
import { LineAllocatedPublisher } from './line-allocated.publisher.js';
import { LineAllocatedStreamPublisher } from './line-allocated.stream-publisher.js';
import { StreamInbox } from './stream-inbox.js';
import { StreamMetrics } from './stream.metrics.js';
import { StreamWriter } from './stream.writer.js';
import { RedisConnections } from './redis.connections.js';
import { RedisNames } from './redis-names.js';

/** Redis integration (the book's external events), present only when REDIS_URL is set. */
@Global()
@Module({})
export class ExternalEventsModule implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(@Inject(RedisConnections) private readonly redis: RedisConnections) {}

  static forRoot(config: AppConfig): DynamicModule {
    if (!config.redisUrl) return { module: NoExternalEventsModule };
    return {
      module: ExternalEventsModule,
      providers: [
        { provide: RedisConnections, useFactory: () => new RedisConnections(config.redisUrl!) },
        { provide: RedisNames, useValue: new RedisNames(config.redisKeyPrefix) },
        StreamMetrics,
        StreamWriter,
        StreamInbox,
        LineAllocatedPublisher,
        LineAllocatedStreamPublisher,
        AllocationCancelledPublisher,
        AllocationCancelledStreamPublisher,
        ChangeBatchQuantityConsumer,
        ChangeBatchQuantityStreamConsumer,
      ],
      exports: [RedisConnections],
    };
  }

  onApplicationBootstrap(): void {
    this.redis.connect();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.redis.close();
  }
}

@Module({})
class NoExternalEventsModule {}
