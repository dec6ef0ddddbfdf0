import { Injectable } from '@nestjs/common';

/**
 * Collects the deliveries that projection handlers start while events are being published. The EventBus
 * calls handlers synchronously inside `publish`, so everything started during `capture` belongs to it.
 */
@Injectable()
export class ReadModelDeliveries {
  private collecting: Promise<unknown>[] | undefined;

  capture(publish: () => void): Promise<unknown>[] {
    const outer = this.collecting;
    const mine: Promise<unknown>[] = [];
    this.collecting = mine;
    try {
      publish();
    } finally {
      this.collecting = outer;
    }
    return mine;
  }

  started(delivery: Promise<unknown>): void {
    this.collecting?.push(delivery);
  }
}
