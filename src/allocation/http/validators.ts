import { applyDecorators } from '@nestjs/common';
import { ApiProperty, type ApiPropertyOptions } from '@nestjs/swagger';
import { IsDefined, IsInt, IsString, Max, Min, registerDecorator, type ValidationOptions } from 'class-validator';

export const MAX_INT = 2_147_483_647;
const MAX_CHARS = 255;

// Checks run in the order listed and the first failing one names the fault (ValidationPipe's
// stopAtFirstError, in app.ts): one message per field.
const Required = () => IsDefined({ message: '$property is required' });

/**
 * A non-empty string of at most 255 characters (code points, as PostgreSQL counts), well-formed (no
 * unpaired surrogate, which PostgreSQL would store changed) and without NUL (which it cannot store).
 */
export function isIdentifier(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.isWellFormed() && !value.includes('\u0000') && [...value].length <= MAX_CHARS;
}

function IsIdentifierString(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isIdentifier',
      target: target.constructor,
      propertyName: propertyName as string,
      options,
      validator: {
        validate: (value: unknown) => isIdentifier(value),
        defaultMessage: (args) =>
          `${args?.property} must be a non-empty string of at most ${MAX_CHARS} characters without NUL`,
      },
    });
}

export function Identifier(description: string, example: string): PropertyDecorator {
  return applyDecorators(
    ApiProperty({ description, example, minLength: 1, maxLength: MAX_CHARS }),
    Required(),
    IsString(),
    IsIdentifierString(),
  );
}

export function Quantity(min: number, options: ApiPropertyOptions): PropertyDecorator {
  return applyDecorators(
    ApiProperty({ type: 'integer', minimum: min, maximum: MAX_INT, ...options } as ApiPropertyOptions),
    Required(),
    IsInt(),
    Min(min),
    Max(MAX_INT),
  );
}

/** `YYYY-MM-DD` naming a real day (no 2026-02-30), year 1 to 9999. */
export function isCalendarDate(value: unknown): boolean {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const [y, m, d] = value.split('-').map(Number);
  if (y < 1) return false;
  const date = new Date(Date.UTC(2000, m - 1, d));
  date.setUTCFullYear(y);
  return date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
}

export function IsCalendarDate(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isCalendarDate',
      target: target.constructor,
      propertyName: propertyName as string,
      options,
      validator: {
        validate: (value: unknown) => isCalendarDate(value),
        defaultMessage: (args) => `${args?.property} must be a calendar date YYYY-MM-DD, or null`,
      },
    });
}
