import { Injectable, type OnModuleInit } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { Metrics } from './metrics.js';

/**
 * Counts every command by outcome and times it. @nestjs/cqrs has no interceptors for commands, so the
 * bus's `execute` is wrapped once here, which covers HTTP, sagas and external messages alike.
 */
@Injectable()
export class CommandMetrics implements OnModuleInit {
  constructor(
    private readonly commandBus: CommandBus,
    private readonly metrics: Metrics,
  ) {}

  onModuleInit(): void {
    const execute = this.commandBus.execute.bind(this.commandBus) as (command: object, ...rest: unknown[]) => Promise<unknown>;
    const metrics = this.metrics;
    const measured = async (command: object, ...rest: unknown[]) => {
      const name = command.constructor.name;
      const stop = metrics.commandDuration.startTimer({ command: name });
      let outcome = 'ok';
      try {
        const result = await execute(command, ...rest);
        if ((result as { kind?: string } | undefined)?.kind === 'out-of-stock') outcome = 'out_of_stock';
        return result;
      } catch (error) {
        outcome = (error as Error)?.name ?? 'Error';
        throw error;
      } finally {
        stop();
        metrics.commands.inc({ command: name, outcome });
      }
    };
    this.commandBus.execute = measured as CommandBus['execute'];
  }
}
