import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { currentTraceparent } from '../tracing/trace-context.js';
import { RedisConnections } from './redis.connections.js';
import { RedisNames } from './redis-names.js';
import { StreamMetrics } from './stream.metrics.js';

/** Adds entries to outbound streams, each capped at about REDIS_STREAM_MAXLEN entries. */
@Injectable()
export class StreamWriter {
  constructor(
    private readonly redis: RedisConnections,
    private readonly names: RedisNames,
    private readonly metrics: StreamMetrics,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * XADD with `data` (the channel's JSON), `event_id`, and when traced `traceparent` (the delivery's trace
   * context, for the consumer to continue); throws (to be retried) if Redis does not take it.
   */
  async add(stream: string, data: Record<string, unknown>, eventId: string): Promise<void> {
    const traceparent = currentTraceparent();
    try {
      // `~`: Redis trims whole nodes of the stream, which is far cheaper than an exact cap.
      await this.redis.commands.xadd(this.names.of(stream), 'MAXLEN', '~', String(this.config.redisStreamMaxlen), '*', 'data', JSON.stringify(data), 'event_id', eventId, ...(traceparent ? ['traceparent', traceparent] : []));
    } catch (error) {
      this.metrics.publishErrors.inc({ stream });
      throw error;
    }
    this.metrics.published.inc({ stream });
  }
}
