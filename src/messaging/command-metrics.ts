import { Counter, Histogram, register } from 'prom-client';

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
 * Counts each execution of a command handler by outcome, and times it: put on `execute`. `outcome` names
 * a successful result ('ok' unless told otherwise); an error counts under its name. (@nestjs/cqrs has no
 * interceptors for commands, and a handler is where the command's outcome is known.)
 */
export function Measured<R>(outcome: (result: R) => string = () => 'ok'): MethodDecorator {
  return (_target, _key, descriptor: PropertyDescriptor) => {
    const execute = descriptor.value as (command: object) => Promise<R>;
    descriptor.value = async function (this: unknown, command: object): Promise<R> {
      const labels = { command: command.constructor.name };
      const stop = duration.startTimer(labels);
      try {
        const result = await execute.call(this, command);
        commands.inc({ ...labels, outcome: outcome(result) });
        return result;
      } catch (error) {
        commands.inc({ ...labels, outcome: (error as Error)?.name ?? 'Error' });
        throw error;
      } finally {
        stop();
      }
    };
  };
}
