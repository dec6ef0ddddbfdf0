import { type IQueryHandler, QueryHandler } from '@nestjs/cqrs';
import { DataSource } from 'typeorm';
import { type AllocationView, GetAllocations } from './get-allocations.query.js';

@QueryHandler(GetAllocations)
export class GetAllocationsHandler implements IQueryHandler<GetAllocations> {
  constructor(private readonly dataSource: DataSource) {}

  execute({ orderid }: GetAllocations): Promise<AllocationView[]> {
    return this.dataSource.query(
      'SELECT sku, batch_reference AS batchref FROM allocations_view WHERE orderid = $1 ORDER BY sku',
      [orderid],
    );
  }
}
