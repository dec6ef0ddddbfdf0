/** Facts the Product aggregate records; handlers and sagas react to them after the commit. */
export abstract class DomainEvent {
  /** The event's type, as stored with it in the outbox: its class's name (renaming a class renames its events). */
  get name(): string {
    return this.constructor.name;
  }
}

export class Allocated extends DomainEvent {
  constructor(
    readonly orderid: string,
    readonly sku: string,
    readonly qty: number,
    readonly batchref: string,
  ) {
    super();
  }
}

export class Deallocated extends DomainEvent {
  constructor(
    readonly orderid: string,
    readonly sku: string,
    readonly qty: number,
    /** The batch the line left. */
    readonly batchref: string,
  ) {
    super();
  }
}

export class OutOfStock extends DomainEvent {
  constructor(readonly sku: string) {
    super();
  }
}

/** An allocated line was cancelled: its stock is free again. Not Deallocated, which asks for reallocation. */
export class AllocationCancelled extends DomainEvent {
  constructor(
    readonly orderid: string,
    readonly sku: string,
    readonly qty: number,
    /** The batch the line was allocated to. */
    readonly batchref: string,
  ) {
    super();
  }
}
