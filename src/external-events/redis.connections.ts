import { Logger } from '@nestjs/common';
import { Redis, type RedisOptions } from 'ioredis';
import { settledWithin } from '../shutdown.js';

/** How long one read of an inbound stream waits on the server for new entries. */
export const STREAM_BLOCK_MS = 2000;
/** How long a shutdown waits for Redis to answer QUIT before cutting the connection. */
const QUIT_TIMEOUT_MS = 1000;

/**
 * The Redis connections of one instance: one for commands (publishing, the leader lock, acknowledging
 * stream entries), one in subscriber mode, and one for the blocking reads of inbound streams (a blocked
 * connection can do nothing else). All reconnect by themselves, with back-off, after Redis restarts; the
 * subscriber then subscribes again to its channels.
 */
export class RedisConnections {
  private readonly logger = new Logger('Redis');
  readonly commands: Redis;
  readonly subscriber: Redis;
  readonly streamReader: Redis;

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
    // Its reads block up to STREAM_BLOCK_MS on the server; the timeout only catches a Redis that hung.
    this.streamReader = new Redis(url, { ...options, commandTimeout: STREAM_BLOCK_MS + 5000, connectionName: 'allocation-service-streams' });
    for (const [name, client] of [['commands', this.commands], ['subscriber', this.subscriber], ['stream reader', this.streamReader]] as const) {
      client.on('error', (error: Error) => this.logger.warn({ msg: `redis ${name} connection: ${error.message}` }));
      client.on('ready', () => this.logger.log({ msg: `redis ${name} connection ready` }));
    }
  }

  private get all(): Redis[] {
    return [this.commands, this.subscriber, this.streamReader];
  }

  /** Starts connecting; the service starts even when Redis is down, and connects once it is up. */
  connect(): void {
    for (const client of this.all) client.connect().catch(() => undefined);
  }

  async close(): Promise<void> {
    // The stream reader may be blocked in a read: cut it rather than wait for the read to end.
    cut(this.streamReader);
    // QUIT lets replies under way arrive; but a client that is not connected would queue it (the subscriber
    // queues while offline) and wait for a Redis that may never come back: cut those, and bound the rest.
    await Promise.all(
      [this.commands, this.subscriber].map(async (client) => {
        if (client.status !== 'ready' || !(await settledWithin(client.quit(), QUIT_TIMEOUT_MS))) cut(client);
      }),
    );
  }
}

/**
 * Disconnects a client, unless it has ended already (its stream consumer cut the stream reader): ioredis
 * would end its closed socket again and keep the process up for 2 s on a timer that nothing clears.
 */
function cut(client: Redis): void {
  if (client.status !== 'end') client.disconnect();
}
