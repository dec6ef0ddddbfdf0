import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { counter, gauge, Metrics } from '../messaging/metrics.js';
import { RedisConnections } from './redis.connections.js';
import { RedisNames } from './redis-names.js';
import { fieldsOf } from './stream-group.reader.js';

export const CONSUMER_GROUP = 'allocation-service';

/** The Redis Streams' figures: inbound entries by outcome, the group's backlog, outbound additions and errors. */
@Injectable()
export class StreamMetrics implements OnApplicationBootstrap {
  readonly entries = counter(
    'allocation_stream_entries_total',
    'Inbound stream entries by stream and outcome (applied, superseded, duplicate, malformed, rejected)',
    ['stream', 'outcome'],
  );
  readonly pending = gauge(
    'allocation_stream_pending',
    "Entries of an inbound stream read by some consumer of the group and not yet acknowledged (the group's figure: the same on every instance)",
    ['stream'],
  );
  readonly lag = gauge(
    'allocation_stream_lag',
    "Entries of an inbound stream the group has not read yet (the group's figure: the same on every instance; NaN when Redis cannot tell)",
    ['stream'],
  );
  readonly published = counter('allocation_stream_published_total', 'Entries added to an outbound stream', ['stream']);
  readonly publishErrors = counter('allocation_stream_publish_errors_total', 'Failed attempts to add an entry to an outbound stream', ['stream']);
  /** Inbound streams whose group figures are read at each scrape (names in code). */
  private readonly inbound = new Set<string>();

  constructor(
    private readonly metrics: Metrics,
    private readonly redis: RedisConnections,
    private readonly names: RedisNames,
  ) {}

  watch(stream: string): void {
    this.inbound.add(stream);
  }

  onApplicationBootstrap(): void {
    this.metrics.onScrape(() => this.readGroups());
  }

  /** The group's pending count and lag (XINFO GROUPS), or NaN while Redis does not answer. */
  private async readGroups(): Promise<void> {
    await Promise.all(
      [...this.inbound].map(async (stream) => {
        let group: Record<string, unknown> | undefined;
        try {
          const groups = (await this.redis.commands.call('XINFO', 'GROUPS', this.names.of(stream))) as unknown[][];
          group = groups.map(fieldsOf).find((g) => g.name === CONSUMER_GROUP);
        } catch {
          group = undefined;
        }
        this.pending.set({ stream }, group ? Number(group.pending) : NaN);
        this.lag.set({ stream }, typeof group?.lag === 'number' ? group.lag : NaN);
      }),
    );
  }
}
