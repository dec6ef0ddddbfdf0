import { Query } from '@nestjs/cqrs';

export interface AllocationView {
  sku: string;
  batchref: string;
}

/** The lines of order `orderid` and the batch each is allocated to (read from the allocations themselves). */
export class GetAllocations extends Query<AllocationView[]> {
  constructor(readonly orderid: string) {
    super();
  }
}
