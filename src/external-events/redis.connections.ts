import { Logger } from '@nestjs/common';
import { Redis, type RedisOptions } from 'ioredis';

/**
 * The Redis connections of one instance: one for commands (publishing, the leader lock) and one in
 * subscriber mode. Both reconnect by themselves, with back-off, after Redis restarts; the subscriber
 * then subscribes again to its channels.
 */
export class RedisConnections {
  private readonly logger = new Logger('Redis');
  readonly commands: Redis;
  readonly subscriber: Redis;

  constructor(url: string) {
    const options: RedisOptions = {
      // Fail at once while disconnected instead of queueing: the outbox retries the delivery later.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: 2000,
      connectTimeout: 2000,
      retryStrategy: (times) => Math.min(times * 200, 2000),
      lazyConnect: true,
    };
    this.commands = new Redis(url, { ...options, connectionName: 'allocation-service' });
    this.subscriber = new Redis(url, { ...options, enableOfflineQueue: true, autoResubscribe: true, maxRetriesPerRequest: null, commandTimeout: undefined, connectionName: 'allocation-service-sub' });
    for (const [name, client] of [['commands', this.commands], ['subscriber', this.subscriber]] as const) {
      client.on('error', (error: Error) => this.logger.warn({ msg: `redis ${name} connection: ${error.message}` }));
      client.on('ready', () => this.logger.log({ msg: `redis ${name} connection ready` }));
    }
  }

  /** Starts connecting; the service starts even when Redis is down, and connects once it is up. */
  connect(): void {
    for (const client of [this.commands, this.subscriber]) client.connect().catch(() => undefined);
  }

  async close(): Promise<void> {
    for (const client of [this.commands, this.subscriber]) {
      await client.quit().catch(() => client.disconnect());
    }
  }
}
