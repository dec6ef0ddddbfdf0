/** Facts the Product aggregate records; handlers and sagas react to them after the commit. */
export abstract class DomainEvent {
  abstract readonly name: string;
}

export class Allocated extends DomainEvent {
  readonly name = 'Allocated';
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
  readonly name = 'Deallocated';
  constructor(
    readonly orderid: string,
    readonly sku: string,
    readonly qty: number,
    /** The batch the line left; the read model drops the line only if it is still there. */
    readonly batchref: string,
  ) {
    super();
  }
}

export class OutOfStock extends DomainEvent {
  readonly name = 'OutOfStock';
  constructor(readonly sku: string) {
    super();
  }
}
