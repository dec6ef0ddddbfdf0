import { Inject, Injectable, type OnModuleInit, type Type } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { EventClass } from './event.js';
import type { EventHandler, EventHandlerMap } from './event-handler.js';

export const EVENT_HANDLERS = Symbol('EVENT_HANDLERS');

/** Where @EventsHandler keeps its events, and @Saga its streams (@nestjs/cqrs does not export the keys). */
const EVENTS_HANDLER_METADATA = '__eventsHandler__';
const SAGA_METADATA = '__saga__';

/**
 * The EVENT_HANDLERS map, resolved to handler instances: which handlers an event has (the dispatcher waits
 * for each of them before it marks the event dispatched), the handler a stored failure names (the relay
 * retries it), and the class an event name stands for (the outbox rebuilds events). At start it checks
 * the map against each handler's @EventsHandler, so that the two can never disagree.
 */
@Injectable()
export class HandlerRegistry implements OnModuleInit {
  private readonly byEvent = new Map<string, EventHandler[]>();
  private readonly byName = new Map<string, EventHandler>();
  private readonly classes = new Map<string, EventClass>();

  constructor(
    @Inject(EVENT_HANDLERS) private readonly map: EventHandlerMap,
    private readonly moduleRef?: ModuleRef,
  ) {}

  /** Handlers given as instances (unit tests). */
  static of(entries: [EventClass, EventHandler[]][]): HandlerRegistry {
    const handlers = new HandlerRegistry(new Map(entries.map(([event, list]) => [event, list.map((h) => h.constructor as Type<EventHandler>)])));
    const instances = new Map(entries.flatMap(([, list]) => list.map((h) => [h.constructor, h] as const)));
    handlers.resolve((type) => instances.get(type)!);
    return handlers;
  }

  onModuleInit(): void {
    this.resolve((type) => this.moduleRef!.get(type, { strict: false }));
  }

  /** The names of the handlers of an event of this name (none: it is dispatched at once). */
  namesFor(eventName: string): string[] {
    return (this.byEvent.get(eventName) ?? []).map((h) => h.handlerName);
  }

  handler(name: string): EventHandler | undefined {
    return this.byName.get(name);
  }

  eventClass(name: string): EventClass | undefined {
    return this.classes.get(name);
  }

  private resolve(instanceOf: (type: Type<EventHandler>) => EventHandler): void {
    const handled = new Map<EventHandler, Set<EventClass>>();
    for (const [event, types] of this.map) {
      this.classes.set(event.name, event);
      const list = types.map(instanceOf);
      this.byEvent.set(event.name, list);
      for (const handler of list) {
        const known = this.byName.get(handler.handlerName);
        if (known && known !== handler) throw new Error(`two event handlers are named ${handler.handlerName}`);
        this.byName.set(handler.handlerName, handler);
        handled.set(handler, (handled.get(handler) ?? new Set()).add(event));
      }
    }
    for (const [handler, events] of handled) {
      // A saga subscribes to the stream itself; an @EventsHandler must name exactly the mapped events; a
      // handler that is neither would never be called, and its events never settle.
      const declared = Reflect.getMetadata(EVENTS_HANDLER_METADATA, handler.constructor) as EventClass[] | undefined;
      if (!declared && !Reflect.getMetadata(SAGA_METADATA, handler.constructor)) {
        throw new Error(`${handler.handlerName} is in EVENT_HANDLERS but is neither an @EventsHandler nor a @Saga: nothing would call it`);
      }
      if (declared && (declared.length !== events.size || declared.some((e) => !events.has(e)))) {
        throw new Error(
          `${handler.handlerName} handles ${declared.map((e) => e.name).join(', ')} (@EventsHandler) but EVENT_HANDLERS maps it to ${[...events].map((e) => e.name).join(', ')}`,
        );
      }
    }
  }
}
