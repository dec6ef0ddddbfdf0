import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { CommandBus, EventsHandler, type IEventHandler } from '@nestjs/cqrs';
import { ChangeBatchQuantity } from '../allocation/commands/change-batch-quantity/change-batch-quantity.command.js';
import { DomainError } from '../allocation/domain/errors.js';
import { isIdentifier, MAX_INT } from '../allocation/http/validators.js';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { DeliveryRunner } from '../messaging/delivery-runner.js';
import type { DurableHandler } from '../messaging/durable-handler.js';
import { Metrics } from '../messaging/metrics.js';
import { OutboxDispatcher } from '../messaging/outbox.dispatcher.js';
import { OutboxStore } from '../messaging/outbox.store.js';
import { ExternalMessageReceived } from './external-message-received.js';
import { RedisConnections } from './redis.connections.js';
import { RedisNames } from './redis-names.js';

export const CHANGE_BATCH_QUANTITY = 'change_batch_quantity';
const LEADER_KEY = 'allocation-service:consumer-leader:change_batch_quantity';
const LEADER_TTL_MS = 10_000;
const RENEW_MS = 2_000;

/** The message could never be processed as it is: it goes straight to the dead letters. */
export class MalformedMessage extends DomainError {}

/**
 * Consumes Redis channel `<prefix>change_batch_quantity` (`{"batchref": "...", "qty": N}`) as
 * ChangeBatchQuantity commands. The inbox stores the channel's name in code, without the prefix.
 *
 * Redis pub/sub delivers every message to every subscriber, so with N instances only one, the leader
 * (a Redis lock with a TTL, renewed while it lives), subscribes: each message is processed once and in
 * order. Each message is first stored in the outbox (as an inbox), then handled like any event: a
 * malformed or rejected message becomes a dead letter at once, a transient failure is retried, and the
 * consumer goes on with the next message.
 */
@EventsHandler(ExternalMessageReceived)
@Injectable()
export class ChangeBatchQuantityConsumer
  implements IEventHandler<ExternalMessageReceived>, DurableHandler<ExternalMessageReceived>, OnApplicationBootstrap, BeforeApplicationShutdown
{
  readonly handlerName = 'ChangeBatchQuantityConsumer';
  private readonly logger = new Logger(ChangeBatchQuantityConsumer.name);
  private readonly instanceId = randomUUID();
  private leader = false;
  private timer: NodeJS.Timeout | undefined;
  private campaigning: Promise<void> | undefined;
  private stopped = false;
  private readonly channel: string;
  private readonly leaderKey: string;

  constructor(
    private readonly redis: RedisConnections,
    names: RedisNames,
    private readonly runner: DeliveryRunner,
    private readonly commandBus: CommandBus,
    private readonly store: OutboxStore,
    private readonly dispatcher: OutboxDispatcher,
    private readonly metrics: Metrics,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    runner.register(this);
    this.channel = names.of(CHANGE_BATCH_QUANTITY);
    this.leaderKey = names.of(LEADER_KEY);
  }

  get isLeader(): boolean {
    return this.leader;
  }

  onApplicationBootstrap(): void {
    this.redis.subscriber.on('message', (channel: string, data: string) => {
      if (channel === this.channel && this.leader) void this.receive(data);
    });
    this.redis.subscriber.on('ready', () => void this.campaign()); // after a Redis restart
    void this.campaign();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.leader) {
      this.leader = false;
      await this.redis.subscriber.unsubscribe(this.channel).catch(() => undefined);
      // Hand over at once rather than after the TTL.
      await this.redis.commands
        .eval(`if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`, 1, this.leaderKey, this.instanceId)
        .catch(() => undefined);
    }
  }

  handle(event: ExternalMessageReceived): Promise<unknown> {
    return this.runner.run(this, event);
  }

  async deliver(event: ExternalMessageReceived): Promise<void> {
    if (event.channel !== CHANGE_BATCH_QUANTITY) return;
    let command: ChangeBatchQuantity;
    try {
      command = parse(event.data);
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
    const event = new ExternalMessageReceived(CHANGE_BATCH_QUANTITY, data);
    try {
      await this.store.append([event], undefined, this.config.outboxLeaseMs);
    } catch (error) {
      // Pub/sub cannot redeliver: say loudly what was lost.
      this.metrics.inbound.inc({ channel: CHANGE_BATCH_QUANTITY, outcome: 'lost' });
      this.logger.error({ msg: 'could not store an inbound message; it is lost', data, error: (error as Error).message });
      return;
    }
    await this.dispatcher.publish([event]);
  }

  /** Takes or keeps the leader lock, and subscribes exactly while it holds it; one round at a time. */
  private campaign(): Promise<void> {
    this.campaigning ??= this.round().finally(() => (this.campaigning = undefined));
    return this.campaigning;
  }

  private async round(): Promise<void> {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    try {
      // Renew the lock if it is ours, take it if it is free.
      const held =
        (await this.redis.commands.eval(
          `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2])
           elseif redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return 1 else return 0 end`,
          1,
          this.leaderKey,
          this.instanceId,
          LEADER_TTL_MS,
        )) === 1;
      if (held && !this.leader) {
        await this.redis.subscriber.subscribe(this.channel);
        this.leader = true;
        this.logger.log({ msg: `consuming ${this.channel} (leader)` });
      } else if (!held && this.leader) {
        await this.stepDown();
      }
    } catch (error) {
      // Redis unreachable: another instance may take over once our lock expires, so stop consuming.
      if (this.leader) await this.stepDown();
      this.logger.debug({ msg: `leader election: ${(error as Error).message}` });
    }
    if (!this.stopped) {
      this.timer = setTimeout(() => void this.campaign(), RENEW_MS);
      this.timer.unref();
    }
  }

  private async stepDown(): Promise<void> {
    this.leader = false;
    this.logger.warn({ msg: `no longer consuming ${this.channel} (lost the leader lock)` });
    await this.redis.subscriber.unsubscribe(this.channel).catch(() => undefined);
  }
}

function parse(data: string): ChangeBatchQuantity {
  let body: unknown;
  try {
    body = JSON.parse(data);
  } catch {
    throw new MalformedMessage(`not JSON: ${truncate(data)}`);
  }
  const { batchref, qty } = (body ?? {}) as { batchref?: unknown; qty?: unknown };
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new MalformedMessage(`not a JSON object: ${truncate(data)}`);
  if (!isIdentifier(batchref)) throw new MalformedMessage('batchref must be a non-empty string of at most 255 well-formed characters without NUL');
  if (typeof qty !== 'number' || !Number.isInteger(qty) || qty < 0 || qty > MAX_INT) {
    throw new MalformedMessage(`qty must be an integer from 0 to ${MAX_INT}`);
  }
  return new ChangeBatchQuantity(batchref, qty);
}

function truncate(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
