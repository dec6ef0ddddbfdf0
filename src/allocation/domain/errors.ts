/** Errors of the domain: each rolls its command back and maps to one HTTP answer. */
export abstract class DomainError extends Error {
  /** Running the same thing again would fail the same way: an event handler failing so is a dead letter at once. */
  readonly retryable = false;

  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** No batch was ever created for this SKU. */
export class InvalidSku extends DomainError {
  constructor(readonly sku: string) {
    super(`Invalid sku ${sku}`);
  }
}

export class UnknownBatch extends DomainError {
  constructor(readonly ref: string) {
    super(`Unknown batch ${ref}`);
  }
}

export class DuplicateBatch extends DomainError {
  constructor(readonly ref: string) {
    super(`Batch ${ref} already exists`);
  }
}

/** The same order line (orderid, sku) was already allocated with another quantity. */
export class OrderLineConflict extends DomainError {
  constructor(
    readonly orderid: string,
    readonly sku: string,
    readonly allocatedQty: number,
  ) {
    super(`Order ${orderid} already has ${allocatedQty} of sku ${sku} allocated; a line cannot change its quantity`);
  }
}

/** The line (orderid, sku) is not allocated: it never was, or it was cancelled already. */
export class LineNotAllocated extends DomainError {
  constructor(
    readonly orderid: string,
    readonly sku: string,
  ) {
    super(`Order ${orderid} has no allocated line of sku ${sku}`);
  }
}
