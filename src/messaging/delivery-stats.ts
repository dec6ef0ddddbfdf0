import { Injectable } from '@nestjs/common';

export interface DeliveryCounts {
  handled: number;
  failed: number;
  gaveUp: number;
}

/** Per event and handler: deliveries that succeeded, attempts that failed, and deliveries given up on. */
@Injectable()
export class DeliveryStats {
  private readonly counts = new Map<string, DeliveryCounts>();

  handled(event: string, handler: string): void {
    this.entry(event, handler).handled += 1;
  }

  failed(event: string, handler: string): void {
    this.entry(event, handler).failed += 1;
  }

  gaveUp(event: string, handler: string): void {
    this.entry(event, handler).gaveUp += 1;
  }

  get(event: string, handler: string): DeliveryCounts {
    return { ...this.entry(event, handler) };
  }

  all(): { event: string; handler: string; counts: DeliveryCounts }[] {
    return [...this.counts].map(([key, counts]) => {
      const [event, handler] = key.split('\u0000');
      return { event, handler, counts: { ...counts } };
    });
  }

  private entry(event: string, handler: string): DeliveryCounts {
    const key = `${event}\u0000${handler}`;
    let entry = this.counts.get(key);
    if (!entry) this.counts.set(key, (entry = { handled: 0, failed: 0, gaveUp: 0 }));
    return entry;
  }
}
