/** A customer's request for `qty` units of `sku` within order `orderid`; a value object. */
export class OrderLine {
  constructor(
    readonly orderid: string,
    readonly sku: string,
    readonly qty: number,
  ) {}

  equals(other: OrderLine): boolean {
    return this.orderid === other.orderid && this.sku === other.sku && this.qty === other.qty;
  }
}
