import { describe, expect, it } from '@jest/globals';
import { Subject } from 'rxjs';
import type { CommandBus } from '@nestjs/cqrs';
import { Deallocated, OutOfStock, UnknownBatch } from '../../src/allocation/domain/index.js';
import { ReallocationSaga } from '../../src/allocation/events/reallocation.saga.js';
import { DeliveryStats } from '../../src/messaging/delivery-stats.js';
import { ResilientHandler } from '../../src/messaging/resilient-handler.js';
import { testConfig } from '../support/config.js';

function resilient(attempts = 3) {
  const stats = new DeliveryStats();
  const handler = new ResilientHandler(testConfig({ EVENT_HANDLER_MAX_ATTEMPTS: String(attempts), EVENT_HANDLER_BACKOFF_MS: '1' }), stats);
  return { stats, handler };
}

describe('ResilientHandler', () => {
  it('retries a handler that fails twice, delivers once and counts both failures', async () => {
    const { stats, handler } = resilient(5);
    let calls = 0;
    const ok = await handler.run('Flaky', new OutOfStock('SKU'), async () => {
      calls += 1;
      if (calls <= 2) throw new Error('SMTP down');
    });
    expect(ok).toBe(true);
    expect(calls).toBe(3);
    expect(stats.get('OutOfStock', 'Flaky')).toEqual({ handled: 1, failed: 2, gaveUp: 0 });
  });

  it('gives up after the last attempt without throwing, and counts it', async () => {
    const { stats, handler } = resilient(3);
    let calls = 0;
    const ok = await handler.run('Broken', new OutOfStock('SKU'), async () => {
      calls += 1;
      throw new Error('always');
    });
    expect(ok).toBe(false);
    expect(calls).toBe(3);
    expect(stats.get('OutOfStock', 'Broken')).toEqual({ handled: 0, failed: 3, gaveUp: 1 });
  });

  it('does not retry a domain error, which would fail again', async () => {
    const { stats, handler } = resilient(5);
    let calls = 0;
    await handler.run('Domain', new OutOfStock('SKU'), async () => {
      calls += 1;
      throw new UnknownBatch('gone');
    });
    expect(calls).toBe(1);
    expect(stats.get('OutOfStock', 'Domain').gaveUp).toBe(1);
  });
});

describe('ReallocationSaga', () => {
  it('reallocates each deallocated line, and a failing command does not end the stream', async () => {
    const { stats, handler } = resilient(2);
    const executed: unknown[] = [];
    const commandBus = {
      execute: async (command: unknown) => {
        executed.push(command);
        if (executed.length <= 2) throw new Error('database blip');
        return { kind: 'allocated', batchref: 'b2' };
      },
    } as unknown as CommandBus;
    const saga = new ReallocationSaga(commandBus, handler);
    const events$ = new Subject<Deallocated>();
    let completedWithError = false;
    saga.reallocate(events$).subscribe({ error: () => (completedWithError = true) });

    events$.next(new Deallocated('o1', 'SKU', 5, 'b1')); // fails twice: given up
    await handler.drain();
    events$.next(new Deallocated('o2', 'SKU', 3, 'b1')); // the saga still listens
    await handler.drain();

    expect(completedWithError).toBe(false);
    expect(executed).toHaveLength(3);
    expect(executed[2]).toMatchObject({ orderid: 'o2', sku: 'SKU', qty: 3 });
    expect(stats.get('Deallocated', 'ReallocationSaga')).toEqual({ handled: 1, failed: 2, gaveUp: 1 });
  });
});
