import { describe, expect, it } from '@jest/globals';
import type { CommandBus } from '@nestjs/cqrs';
import { Counter } from 'prom-client';
import { Subject } from 'rxjs';
import { Deallocated, OutOfStock } from '../../src/allocation/domain/index.js';
import { ReallocationSaga } from '../../src/allocation/events/reallocation.saga.js';
import { DeliveryRunner } from '../../src/messaging/delivery-runner.js';
import { attachEnvelope } from '../../src/messaging/event-codec.js';
import { Metrics } from '../../src/messaging/metrics.js';
import type { OutboxStore } from '../../src/messaging/outbox.store.js';
import { testConfig } from '../support/config.js';

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

function runner(env: Record<string, string> = {}) {
  const metrics = freshMetrics();
  const store = {} as OutboxStore; // events without an outbox envelope never reach the store
  return { metrics, runner: new DeliveryRunner(testConfig(env), store, metrics) };
}

describe('DeliveryRunner', () => {
  it('never throws: a failing handler is counted and reported, not raised', async () => {
    const { metrics, runner: r } = runner();
    const handler = { handlerName: 'Broken', deliver: async () => Promise.reject(new Error('SMTP down')) };
    await expect(r.run(handler, new OutOfStock('SKU'))).resolves.toBe('unrecorded');
    expect(await Metrics.value(metrics.failures, { event: 'OutOfStock', handler: 'Broken' })).toBe(1);
  });

  it('counts a success', async () => {
    const { metrics, runner: r } = runner();
    await expect(r.run({ handlerName: 'Fine', deliver: async () => undefined }, new OutOfStock('SKU'))).resolves.toBe('delivered');
    expect(await Metrics.value(metrics.handled, { event: 'OutOfStock', handler: 'Fine' })).toBe(1);
  });

  it('collects the deliveries a publish starts', () => {
    const { runner: r } = runner();
    const capture = r.collect(() => {
      void r.run({ handlerName: 'View', deliver: async () => undefined }, new OutOfStock('A'));
      void r.run({ handlerName: 'Mail', deliver: async () => undefined }, new OutOfStock('A'));
    });
    expect(capture.deliveries).toHaveLength(2);
  });

  it('does not run again a projection the command already applied in its own write', async () => {
    const { metrics, runner: r } = runner();
    let runs = 0;
    const event = new OutOfStock('A');
    attachEnvelope(event, { outboxId: '1', eventId: 'e', appliedInTransaction: ['View'] });
    await expect(r.run({ handlerName: 'View', deliver: async () => void (runs += 1) }, event)).resolves.toBe('delivered');
    expect(runs).toBe(0);
    expect(await Metrics.value(metrics.handled, { event: 'OutOfStock', handler: 'View' })).toBe(1);
  });

  it('backs off exponentially with jitter, up to the cap', () => {
    const { runner: r } = runner({ EVENT_HANDLER_BACKOFF_MS: '100', EVENT_HANDLER_BACKOFF_MAX_MS: '1000' });
    for (let i = 0; i < 20; i++) {
      expect(r.backoff(1)).toBeGreaterThanOrEqual(50);
      expect(r.backoff(1)).toBeLessThanOrEqual(100);
      expect(r.backoff(3)).toBeGreaterThanOrEqual(200);
      expect(r.backoff(3)).toBeLessThanOrEqual(400);
      expect(r.backoff(10)).toBeLessThanOrEqual(1000);
    }
  });

  it('refuses two handlers with one name (failed deliveries are stored by name)', () => {
    const { runner: r } = runner();
    r.register({ handlerName: 'Same', deliver: async () => undefined });
    expect(() => r.register({ handlerName: 'Same', deliver: async () => undefined })).toThrow(/Same/);
  });
});

describe('ReallocationSaga', () => {
  it('reallocates each deallocated line, and a failing command does not end the stream', async () => {
    const { metrics, runner: r } = runner();
    const executed: unknown[] = [];
    const commandBus = {
      execute: async (command: unknown) => {
        executed.push(command);
        if (executed.length === 1) throw new Error('database blip');
        return { kind: 'allocated', batchref: 'b2' };
      },
    } as unknown as CommandBus;
    const saga = new ReallocationSaga(commandBus, r);
    const events$ = new Subject<Deallocated>();
    let ended = false;
    saga.reallocate(events$).subscribe({ error: () => (ended = true), complete: () => (ended = true) });

    events$.next(new Deallocated('o1', 'SKU', 5, 'b1'));
    await r.drain();
    events$.next(new Deallocated('o2', 'SKU', 3, 'b1'));
    await r.drain();

    expect(ended).toBe(false);
    expect(executed).toHaveLength(2);
    expect(executed[1]).toMatchObject({ orderid: 'o2', sku: 'SKU', qty: 3 });
    expect(await Metrics.value(metrics.failures, { event: 'Deallocated', handler: 'ReallocationSaga' })).toBe(1);
    expect(await Metrics.value(metrics.handled, { event: 'Deallocated', handler: 'ReallocationSaga' })).toBe(1);
  });
});
