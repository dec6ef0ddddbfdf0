import { ChangeBatchQuantity } from '../allocation/commands/change-batch-quantity/change-batch-quantity.command.js';
import { DomainError } from '../allocation/domain/errors.js';
import { isIdentifier, MAX_INT } from '../allocation/http/validators.js';

/** The message could never be processed as it is: it goes straight to the dead letters. */
export class MalformedMessage extends DomainError {}

/** `{"batchref": "...", "qty": N}`, the book's message, as the command it asks for; anything else is malformed. */
export function parseChangeBatchQuantity(data: string): ChangeBatchQuantity {
  let body: unknown;
  try {
    body = JSON.parse(data);
  } catch {
    throw new MalformedMessage(`not JSON: ${truncate(data)}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new MalformedMessage(`not a JSON object: ${truncate(data)}`);
  const { batchref, qty } = body as { batchref?: unknown; qty?: unknown };
  if (!isIdentifier(batchref)) throw new MalformedMessage('batchref must be a non-empty string of at most 255 well-formed characters without NUL');
  if (typeof qty !== 'number' || !Number.isInteger(qty) || qty < 0 || qty > MAX_INT) {
    throw new MalformedMessage(`qty must be an integer from 0 to ${MAX_INT}`);
  }
  return new ChangeBatchQuantity(batchref, qty);
}

function truncate(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
