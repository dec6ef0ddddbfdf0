import { Inject, Injectable, Logger } from '@nestjs/common';
import { ExponentialBackoff, handleWhen, retry, type RetryPolicy } from 'cockatiel';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { DomainError } from '../allocation/domain/errors.js';
import { DeliveryStats } from './delivery-stats.js';

/**
 * The one wrapper around every event handler and every command a saga starts. A failure is logged with
 * the event and the handler, retried with exponential back-off and jitter, counted, and never thrown:
 * it cannot reach the command that raised the event, undo it, or stop a saga's stream.
 */
@Injectable()
export class ResilientHandler {
  private readonly logger = new Logger('EventHandling');
  private readonly policy: RetryPolicy;
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly stats: DeliveryStats,
  ) {
    // A domain error (e.g. the batch is gone) will not pass on a retry: give up on it at once.
    this.policy = retry(handleWhen((e) => !(e instanceof DomainError)), {
      maxAttempts: config.eventHandlerMaxAttempts - 1,
      backoff: new ExponentialBackoff({ initialDelay: config.eventHandlerBackoffMs, maxDelay: 60_000 }),
    });
  }

  /** Runs `work` for `event` under the stable `handler` name; resolves whether or not it succeeded. */
  run(handler: string, event: object, work: () => Promise<unknown>): Promise<boolean> {
    const eventName = event.constructor.name;
    const attempt = this.policy
      .execute(async ({ attempt }) => {
        try {
          return await work();
        } catch (error) {
          this.stats.failed(eventName, handler);
          this.logger.warn({
            msg: `${handler} failed on ${eventName} (attempt ${attempt + 1})`,
            handler,
            event: eventName,
            payload: event,
            error: (error as Error).message,
          });
          throw error;
        }
      })
      .then(
        () => {
          this.stats.handled(eventName, handler);
          return true;
        },
        (error: Error) => {
          this.stats.gaveUp(eventName, handler);
          this.logger.error(
            { msg: `${handler} gave up on ${eventName}`, handler, event: eventName, payload: event, error: error.message },
            error.stack,
          );
          return false;
        },
      );
    this.inFlight.add(attempt);
    void attempt.finally(() => this.inFlight.delete(attempt));
    return attempt;
  }

  /** Waits for every delivery under way (used at shutdown and by tests). */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }
}
