import { Inject, type Type } from '@nestjs/common';
import type { IEventHandler } from '@nestjs/cqrs';
import { DeliveryRunner } from './delivery-runner.js';
import type { Delivered, Envelope, Event, EventClass } from './event.js';

/**
 * An event handler (an @EventsHandler, or a @Saga's step) whose every delivery runs inside the
 * DeliveryRunner: a failure is caught, logged, stored under `handlerName` and retried with back-off, and it
 * never reaches the command that raised the event. A subclass says only what the book's handler function
 * says: its event (in @EventsHandler) and its effect (`apply`).
 */
export abstract class EventHandler<E extends Event = Event> implements IEventHandler<Delivered<E>> {
  /** Stable across releases: failed deliveries are stored, listed and retried under this name. */
  abstract readonly handlerName: string;

  @Inject(DeliveryRunner) private readonly deliveries!: DeliveryRunner;

  /** Called by the EventBus. Never throws: see DeliveryRunner.deliver. */
  handle(event: Delivered<E>): Promise<void> {
    return this.deliveries.deliver(this, event);
  }

  /** The effect. May throw (it is retried); must be idempotent, as an event may be delivered again. */
  abstract apply(event: E, envelope: Envelope): Promise<void>;

  /**
   * Optional: the effect of several events of one SKU at once, for events that queued up while the
   * previous ones were handled (up to `batchSize`). If it fails, each of them is tried on its own, through
   * `apply`, so that one bad event fails alone.
   */
  applyAll?(events: E[]): Promise<void>;
  readonly batchSize: number = 1;
}

/** Which handlers each event has (the book's EVENT_HANDLERS): one place, given to MessagingModule. */
export type EventHandlerMap = ReadonlyMap<EventClass, readonly Type<EventHandler>[]>;
