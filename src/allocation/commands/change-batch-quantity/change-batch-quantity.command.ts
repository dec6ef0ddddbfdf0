import { Command } from '@nestjs/cqrs';

/** Set batch `ref`'s purchased quantity to `qty`; lines that no longer fit are deallocated and reallocated. */
export class ChangeBatchQuantity extends Command<void> {
  constructor(
    readonly ref: string,
    readonly qty: number,
  ) {
    super();
  }
}
