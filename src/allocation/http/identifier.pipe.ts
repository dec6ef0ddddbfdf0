import { BadRequestException, type PipeTransform } from '@nestjs/common';
import { isIdentifier } from './validators.js';

/** Validates a path parameter such as `orderid` or `sku` like the same field in a body. */
export class IdentifierPipe implements PipeTransform<string, string> {
  constructor(private readonly name: string) {}

  transform(value: string): string {
    if (!isIdentifier(value)) {
      throw new BadRequestException([`${this.name} must be a non-empty string of at most 255 characters without NUL`]);
    }
    return value;
  }
}
