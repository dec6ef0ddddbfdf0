import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { type EventBus, EventsHandler } from '@nestjs/cqrs';
import { OutOfStock } from '../../src/allocation/domain/index.js';
import { DeliveryRunner } from '../../src/messaging/delivery-runner.js';
import type { Delivered } from '../../src/messaging/event.js';
import { EventHandler } from '../../src/messaging/event-handler.js';
import { HandlerRegistry } from '../../src/messaging/handler-registry.js';
import { Metrics } from '../../src/messaging/metrics.js';
import { OutboxDispatcher } from '../../src/messaging/outbox.dispatcher.js';
import type { OutboxStore } from '../../src/messaging/outbox.store.js';
import { testConfig } from '../support/config.js';

@EventsHandler(OutOfStock)
class Waiting extends EventHandler<OutOfStock> {
  readonly handlerName = 'Waiting';
  release!: () => void;
  readonly started = new Promise<void>((started) => {
    this.apply = () =>
      new Promise<void>((resolve) => {
        this.release = resolve;
        started();
      });
  });
  apply!: () => Promise<void>;
}

describe('OutboxDispatcher', () => {
  beforeEach(() => void jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] }));
  afterEach(() => void jest.useRealTimers());

  it('renews the lease of the events it holds until they are settled, then marks them dispatched', async () => {
    const renewed: string[][] = [];
    const marked: string[][] = [];
    const store = {
      renewLeases: async (ids: readonly string[]) => void renewed.push([...ids]),
      markDispatched: async (ids: readonly string[]) => void marked.push([...ids]),
    } as unknown as OutboxStore;
    const config = testConfig({ OUTBOX_LEASE_MS: '1000' });
    const handler = new Waiting();
    const handlers = HandlerRegistry.of([[OutOfStock, [handler]]]);
    const runner = new DeliveryRunner(config, store, new Metrics(), handlers);
    Object.assign(handler, { deliveries: runner });
    const bus = { publish: (event: Delivered<OutOfStock>) => void handler.handle(event) } as unknown as EventBus;
    const dispatcher = new OutboxDispatcher(bus, handlers, runner, store, config);

    await dispatcher.publish([{ event: new OutOfStock('SKU'), envelope: { outboxId: '41', eventId: 'e41' } }]);
    await handler.started;
    await jest.advanceTimersByTimeAsync(1200); // past half a lease, twice
    expect(renewed).toEqual([['41'], ['41']]);

    handler.release();
    await dispatcher.idle();
    await jest.advanceTimersByTimeAsync(1200);
    expect(renewed).toHaveLength(2); // no longer held
    expect(marked).toEqual([['41']]);
  });
});
