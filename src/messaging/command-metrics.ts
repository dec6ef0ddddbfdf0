import { Counter, Histogram, register } from 'prom-client';
import { inSpan } from '../tracing/trace-context.js';

// In prom-client's process-wide registry, created once (several apps may run in one test process).
const commands =
  (register.getSingleMetric('allocation_commands_total') as Counter<string>) ??
  new Counter({ name: 'allocation_commands_total', help: 'Commands executed, by command and outcome (ok, out_of_stock or the error name)', labelNames: ['command', 'outcome'] });
const duration =
  (register.getSingleMetric('allocation_command_duration_seconds') as Histogram<string>) ??
  new Histogram({
    name: 'allocation_command_duration_seconds',
    help: 'Time to execute a command, commit included',
    labelNames: ['command'],
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5],
  });

/**
 * Counts each execution of a command handler by outcome, times it, and traces it: put on `execute`. `outcome` names
 * a successful result ('ok' unless told otherwise); an error counts under its name. (@nestjs/cqrs has no
 * interceptors for commands, and a handler is where the command's outcome is known.)
 */
export function Measured<R>(outcome: (result: R) => string = () => 'ok'): MethodDecorator {
  return (_target, _key, descriptor: PropertyDescriptor) => {
    const execute = descriptor.value as (command: object) => Promise<R>;
    descriptor.value = function (this: unknown, command: object): Promise<R> {
      const labels = { command: command.constructor.name };
      // A span per command, around its unit of work: its SQL spans are its children.
      return inSpan(`command ${labels.command}`, { attributes: () => spanAttributes(command) }, async (span) => {
        const stop = duration.startTimer(labels);
        try {
          const result = await execute.call(this, command);
          const named = outcome(result);
          commands.inc({ ...labels, outcome: named });
          span.setAttribute('allocation.outcome', named);
          return result;
        } catch (error) {
          commands.inc({ ...labels, outcome: (error as Error)?.name ?? 'Error' });
          throw error;
        } finally {
          stop();
        }
      });
    };
  };
}

/** The command's identifying fields (`sku`, `orderid`, `ref`), never more: a span is no place for a payload. */
function spanAttributes(command: object): Record<string, string> {
  const attributes: Record<string, string> = { 'allocation.command': command.constructor.name };
  for (const field of ['sku', 'orderid', 'ref'] as const) {
    const value = (command as Record<string, unknown>)[field];
    if (typeof value === 'string') attributes[`allocation.${field}`] = value;
  }
  return attributes;
}
