import { type IQueryHandler, QueryHandler } from '@nestjs/cqrs';
import { DataSource } from 'typeorm';
import { type AllocationView, GetAllocations } from './get-allocations.query.js';

@QueryHandler(GetAllocations)
export class GetAllocationsHandler implements IQueryHandler<GetAllocations> {
  constructor(private readonly dataSource: DataSource) {}

  execute({ orderid }: GetAllocations): Promise<AllocationView[]> {
    return this.dataSource.query(
      // The write table is the read side: a line shows as soon as the command that allocated it commits.
      'SELECT sku, batch_reference AS batchref FROM allocations WHERE orderid = $1 ORDER BY sku',
      [orderid],
    );
  }
}
