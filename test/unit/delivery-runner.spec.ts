import { describe, expect, it } from '@jest/globals';
import type { CommandBus } from '@nestjs/cqrs';
import { EventsHandler } from '@nestjs/cqrs';
import { Counter } from 'prom-client';
import { Subject } from 'rxjs';
import { Deallocated, OutOfStock } from '../../src/allocation/domain/index.js';
import { ReallocationSaga } from '../../src/allocation/events/reallocation.saga.js';
import { DeliveryRunner } from '../../src/messaging/delivery-runner.js';
import { type Delivered, delivered, type Envelope, type Event } from '../../src/messaging/event.js';
import { EventHandler } from '../../src/messaging/event-handler.js';
import { HandlerRegistry } from '../../src/messaging/handler-registry.js';
import { Metrics } from '../../src/messaging/metrics.js';
import type { OutboxStore, RetryRule } from '../../src/messaging/outbox.store.js';
import { testConfig } from '../support/config.js';
import { metricValue } from '../support/metrics.js';

/** Metrics of their own, so that tests do not share counts. */
function freshMetrics(): Metrics {
  const metrics = new Metrics();
  const labelNames = ['event', 'handler'];
  Object.assign(metrics, {
    handled: new Counter({ name: 'h', help: 'h', labelNames, registers: [] }),
    failures: new Counter({ name: 'f', help: 'f', labelNames, registers: [] }),
    deadLetters: new Counter({ name: 'd', help: 'd', labelNames, registers: [] }),
  });
  return metrics;
}

/** An outbox store that keeps failures in memory (or cannot store them at all). */
function fakeStore(options: { broken?: boolean } = {}) {
  const failures: { outboxId: string; handler: string; error: string; permanent: boolean }[] = [];
  const store = {
    recordFailure: async (outboxId: string, handler: string, error: string, rule: RetryRule) => {
      if (options.broken) throw new Error('database down');
      failures.push({ outboxId, handler, error, permanent: rule.permanent });
      return { attempts: 1, dead: rule.permanent, delayMs: 10 };
    },
  } as unknown as OutboxStore;
  return { store, failures };
}

@EventsHandler(OutOfStock)
class Probe extends EventHandler<OutOfStock> {
  constructor(
    readonly handlerName: string,
    readonly apply: (event: OutOfStock, envelope: Envelope) => Promise<void>,
  ) {
    super();
  }
}

function setUp(handlers: EventHandler[], env: Record<string, string> = {}, store = fakeStore()) {
  const metrics = freshMetrics();
  const registry = HandlerRegistry.of([[OutOfStock, handlers.filter((h) => !(h instanceof ReallocationSaga))], [Deallocated, handlers.filter((h) => h instanceof ReallocationSaga)]]);
  const runner = new DeliveryRunner(testConfig(env), store.store, metrics, registry);
  // What Nest's property injection does in the service.
  for (const h of handlers) Object.assign(h, { deliveries: runner });
  return { runner, metrics, registry, failures: store.failures };
}

let nextId = 0;
function deliveredEvent<E extends Event>(event: E, handlers: string[]): Delivered<E> {
  nextId += 1;
  return delivered({ event, envelope: { outboxId: String(nextId), eventId: `event-${nextId}` } }, handlers);
}

describe('DeliveryRunner', () => {
  it('never throws: a failure is counted, stored for a retry, and reported to the event', async () => {
    const broken = new Probe('Broken', async () => Promise.reject(new Error('SMTP down')));
    const { metrics, failures } = setUp([broken]);
    const event = deliveredEvent(new OutOfStock('SKU'), ['Broken']);
    await expect(broken.handle(event)).resolves.toBeUndefined();
    expect(await event.tally.all).toEqual(['recorded']);
    expect(failures).toEqual([{ outboxId: event.envelope.outboxId, handler: 'Broken', error: 'Error: SMTP down', permanent: false }]);
    expect(await metricValue(metrics.failures, { event: 'OutOfStock', handler: 'Broken' })).toBe(1);
  });

  it('reports a failure it could not store as unrecorded, so that the event stays undispatched', async () => {
    const broken = new Probe('Broken', async () => Promise.reject(new Error('SMTP down')));
    setUp([broken], {}, fakeStore({ broken: true }));
    const event = deliveredEvent(new OutOfStock('SKU'), ['Broken']);
    await broken.handle(event);
    expect(await event.tally.all).toEqual(['unrecorded']);
  });

  it('hands the handler the event and its envelope, and counts a success', async () => {
    const seen: [OutOfStock, Envelope][] = [];
    const fine = new Probe('Fine', async (event, envelope) => void seen.push([event, envelope]));
    const { metrics } = setUp([fine]);
    const event = deliveredEvent(new OutOfStock('SKU'), ['Fine']);
    await fine.handle(event);
    expect(seen).toEqual([[event, event.envelope]]);
    expect(seen[0][0]).toBeInstanceOf(OutOfStock);
    expect(await metricValue(metrics.handled, { event: 'OutOfStock', handler: 'Fine' })).toBe(1);
  });

  it("settles an event's tally once every one of its handlers has reported", async () => {
    const [a, b] = [new Probe('A', async () => undefined), new Probe('B', async () => Promise.reject(new Error('no')))];
    setUp([a, b]);
    const event = deliveredEvent(new OutOfStock('SKU'), ['A', 'B']);
    let settled = false;
    void event.tally.all.then(() => (settled = true));
    await a.handle(event);
    await Promise.resolve();
    expect(settled).toBe(false);
    await b.handle(event);
    expect((await event.tally.all).sort()).toEqual(['delivered', 'recorded']);
    // An event no handler listens to is settled at once.
    expect(await deliveredEvent(new OutOfStock('SKU'), []).tally.all).toEqual([]);
  });

  it('makes a failure that says it is not retryable (a domain error) a dead letter at once', async () => {
    const error = Object.assign(new Error('Unknown batch b1'), { retryable: false });
    const h = new Probe('Strict', async () => Promise.reject(error));
    const { failures } = setUp([h]);
    await h.handle(deliveredEvent(new OutOfStock('SKU'), ['Strict']));
    expect(failures[0].permanent).toBe(true);
  });

  it('runs at most EVENT_DELIVERY_CONCURRENCY deliveries at once; the rest wait their turn', async () => {
    let running = 0;
    let most = 0;
    const gates: (() => void)[] = [];
    const slow = new Probe('Slow', async () => {
      running += 1;
      most = Math.max(most, running);
      await new Promise<void>((resolve) => gates.push(resolve));
      running -= 1;
    });
    const { runner } = setUp([slow], { EVENT_DELIVERY_CONCURRENCY: '3' });
    const all = Array.from({ length: 20 }, (_, i) => slow.handle(deliveredEvent(new OutOfStock(`SKU-${i}`), ['Slow'])));
    for (let opened = 0; opened < 20; opened++) {
      while (gates.length === 0) await new Promise((r) => setImmediate(r));
      expect(running).toBeLessThanOrEqual(3);
      gates.shift()!();
    }
    await Promise.all(all);
    await runner.drain();
    expect(most).toBe(3);
  });

  it('delivers the events of one SKU to one handler one after another, in order', async () => {
    const order: string[] = [];
    let running = 0;
    let most = 0;
    const h = new Probe('Ordered', async (event) => {
      running += 1;
      most = Math.max(most, running);
      await new Promise((r) => setImmediate(r));
      order.push(event.sku);
      running -= 1;
    });
    setUp([h], { EVENT_DELIVERY_CONCURRENCY: '8' });
    const events = ['A', 'A', 'A', 'A'].map(() => deliveredEvent(new OutOfStock('A'), ['Ordered']));
    await Promise.all(events.map((e) => h.handle(e)));
    expect(most).toBe(1);
    expect(order).toHaveLength(4);
  });

  it('hands a handler with applyAll the events of one SKU that queued up, together; a failure is stored for each', async () => {
    const calls: string[][] = [];
    class Batching extends Probe {
      readonly batchSize = 3;
      fail = false;
      async applyAll(events: OutOfStock[]): Promise<void> {
        calls.push(events.map((e) => (e as Delivered<OutOfStock>).envelope.eventId));
        if (this.fail) throw new Error('database blip');
      }
    }
    const h = new Batching('Batching', async (_event, envelope) => void calls.push([envelope.eventId]));
    const { failures } = setUp([h]);
    const events = Array.from({ length: 6 }, () => deliveredEvent(new OutOfStock('A'), ['Batching']));
    await Promise.all(events.map((e) => h.handle(e)));
    // The first goes alone (nothing queued yet), then the rest in batches of at most 3, in order.
    expect(calls).toEqual([[events[0].envelope.eventId], events.slice(1, 4).map((e) => e.envelope.eventId), events.slice(4).map((e) => e.envelope.eventId)]);

    h.fail = true;
    const failing = Array.from({ length: 3 }, () => deliveredEvent(new OutOfStock('B'), ['Batching']));
    Object.assign(h, { apply: async () => Promise.reject(new Error('database blip')) });
    await Promise.all(failing.map((e) => h.handle(e)));
    expect(failures.map((f) => f.outboxId)).toEqual(failing.map((e) => e.envelope.outboxId));
    for (const e of failing) expect(await e.tally.all).toEqual(['recorded']);
  });

  it('tries each event of a failed batch on its own, so that one bad event fails alone', async () => {
    class Picky extends Probe {
      readonly batchSize = 10;
      async applyAll(): Promise<void> {
        throw new Error('one of the batch is bad');
      }
    }
    const applied: string[] = [];
    // Three events of one SKU (one lane), told apart by a label of their own.
    const h = new Picky('Picky', async (event) => {
      const { label } = event as OutOfStock & { label: string };
      if (label === 'bad') throw new Error('bad one');
      applied.push(label);
    });
    const { failures } = setUp([h]);
    const events = ['first', 'bad', 'last'].map((label) => deliveredEvent(Object.assign(new OutOfStock('C'), { label }), ['Picky']));
    await Promise.all(events.map((e) => h.handle(e)));
    expect(applied).toEqual(['first', 'last']);
    expect(failures.map((f) => f.outboxId)).toEqual([events[1].envelope.outboxId]);
  });

  it('holds back the callers of ready() while 256 deliveries are under way, and lets every one of them go once there is room', async () => {
    const releases: (() => void)[] = [];
    const slow = new Probe('Slow', () => new Promise<void>((resolve) => releases.push(resolve)));
    const { runner } = setUp([slow], { EVENT_DELIVERY_CONCURRENCY: '32' }); // 32 run, 224 wait their turn
    const deliveries = Array.from({ length: 256 }, () => slow.handle(deliveredEvent(new OutOfStock(`SKU-${nextId}`), ['Slow'])));
    await new Promise((r) => setImmediate(r));
    expect(releases).toHaveLength(32);

    let passed = 0;
    const waiters = Array.from({ length: 50 }, () => runner.ready().then(() => (passed += 1)));
    await new Promise((r) => setImmediate(r));
    expect(passed).toBe(0); // full: everyone waits

    releases.shift()!(); // one ends: there is room, and every waiter (starting nothing) goes on
    await Promise.all(waiters);
    expect(passed).toBe(50);
    let settled = false;
    void Promise.all(deliveries).then(() => (settled = true));
    while (!settled) {
      for (const release of releases.splice(0)) release();
      await new Promise((r) => setImmediate(r));
    }
    await expect(runner.ready()).resolves.toBeUndefined();
  });

  it('backs off exponentially with jitter, up to the cap', () => {
    const { runner: r } = setUp([], { EVENT_HANDLER_BACKOFF_MS: '100', EVENT_HANDLER_BACKOFF_MAX_MS: '1000' });
    for (let i = 0; i < 20; i++) {
      expect(r.backoff(1)).toBeGreaterThanOrEqual(50);
      expect(r.backoff(1)).toBeLessThanOrEqual(100);
      expect(r.backoff(3)).toBeGreaterThanOrEqual(200);
      expect(r.backoff(3)).toBeLessThanOrEqual(400);
      expect(r.backoff(10)).toBeLessThanOrEqual(1000);
    }
  });
});

describe('EVENT_HANDLERS', () => {
  it('refuses two handlers with one name (failed deliveries are stored by name)', () => {
    class Mailer extends Probe {}
    class Texter extends Probe {}
    expect(() => HandlerRegistry.of([[OutOfStock, [new Mailer('Same', async () => undefined), new Texter('Same', async () => undefined)]]])).toThrow(/Same/);
  });

  it('refuses a map that disagrees with a handler’s @EventsHandler', () => {
    @EventsHandler(Deallocated)
    class Mistaken extends EventHandler<OutOfStock> {
      readonly handlerName = 'Mistaken';
      async apply(): Promise<void> {}
    }
    expect(() => HandlerRegistry.of([[OutOfStock, [new Mistaken()]]])).toThrow(/Mistaken handles Deallocated .* maps it to OutOfStock/);
  });
});

describe('ReallocationSaga', () => {
  it('reallocates each deallocated line, and a failing command does not end the stream', async () => {
    const executed: unknown[] = [];
    const commandBus = {
      execute: async (command: unknown) => {
        executed.push(command);
        if (executed.length === 1) throw new Error('database blip');
        return { kind: 'allocated', batchref: 'b2' };
      },
    } as unknown as CommandBus;
    const saga = new ReallocationSaga(commandBus);
    const { runner, metrics } = setUp([saga]);
    const events$ = new Subject<Deallocated>();
    let ended = false;
    saga.reallocate(events$).subscribe({ error: () => (ended = true), complete: () => (ended = true) });

    events$.next(deliveredEvent(new Deallocated('o1', 'SKU', 5, 'b1'), ['ReallocationSaga']));
    await runner.drain();
    events$.next(deliveredEvent(new Deallocated('o2', 'SKU', 3, 'b1'), ['ReallocationSaga']));
    await runner.drain();

    expect(ended).toBe(false);
    expect(executed).toHaveLength(2);
    expect(executed[1]).toMatchObject({ orderid: 'o2', sku: 'SKU', qty: 3 });
    expect(await metricValue(metrics.failures, { event: 'Deallocated', handler: 'ReallocationSaga' })).toBe(1);
    expect(await metricValue(metrics.handled, { event: 'Deallocated', handler: 'ReallocationSaga' })).toBe(1);
  });
});
