import { Controller, Get, Header, Injectable } from '@nestjs/common';
import { ApiOperation, ApiResponse } from '@nestjs/swagger';
import { collectDefaultMetrics, Counter, Gauge, register } from 'prom-client';
import { DataSource } from 'typeorm';
import { OutboxStore } from './outbox.store.js';

/** Node process metrics, registered once per process (several apps may run in one test process). */
export function registerDefaultMetrics(): void {
  if (!register.getSingleMetric('process_cpu_user_seconds_total')) collectDefaultMetrics();
}

// Metrics live in prom-client's process-wide registry; an app started twice in one process reuses them.
export function counter(name: string, help: string, labelNames: string[] = []): Counter<string> {
  return (register.getSingleMetric(name) as Counter<string>) ?? new Counter({ name, help, labelNames });
}
export function gauge(name: string, help: string, labelNames: string[] = []): Gauge<string> {
  return (register.getSingleMetric(name) as Gauge<string>) ?? new Gauge({ name, help, labelNames });
}

@Injectable()
export class Metrics {
  readonly handled = counter('allocation_event_handled_total', 'Event deliveries that succeeded, by event and handler', ['event', 'handler']);
  readonly failures = counter('allocation_event_failures_total', 'Failed attempts of event deliveries, by event and handler', ['event', 'handler']);
  readonly deadLetters = counter(
    'allocation_event_dead_letters_total',
    'Event deliveries given up on after their last attempt, by event and handler',
    ['event', 'handler'],
  );
  readonly poolTotal = gauge('allocation_db_pool_connections', 'Connections of this instance\'s database pool (requests, commands, events)');
  readonly poolIdle = gauge('allocation_db_pool_idle', 'Idle connections of this instance\'s database pool');
  readonly poolWaiting = gauge('allocation_db_pool_waiting', 'Queries of this instance waiting for a pool connection (above 0 for long: the pool is too small, or the database slow)');
  // The outbox figures below are the database's, read by each instance: aggregate them with max(), not sum().
  readonly outboxPending = gauge('allocation_outbox_pending', 'Events in the outbox not yet dispatched (database-wide: every instance reports the same figure)');
  readonly outboxOldestAge = gauge('allocation_outbox_oldest_pending_age_seconds', 'Age of the oldest event not yet dispatched (0 when none; database-wide)');
  readonly retrying = gauge('allocation_event_deliveries_retrying', 'Failed deliveries waiting for their next attempt (database-wide)');
  readonly deadLettersWaiting = gauge('allocation_event_dead_letters', 'Dead letters waiting for an operator (database-wide)');
  readonly outboxStatsUp = gauge(
    'allocation_outbox_stats_up',
    '1 when the outbox figures of this scrape were read from the database, 0 when they could not be (they are NaN then)',
  );
  readonly inbound = counter(
    'allocation_inbound_messages_total',
    'External messages received, by channel and outcome (processed, malformed, rejected)',
    ['channel', 'outcome'],
  );

  private readonly scrapeHooks = new Set<() => Promise<void>>();

  /** Runs `refresh` before each scrape (gauges read from elsewhere, such as Redis), bounded by the caller. */
  onScrape(refresh: () => Promise<void>): void {
    this.scrapeHooks.add(refresh);
  }

  async refresh(): Promise<void> {
    await Promise.all([...this.scrapeHooks].map((hook) => hook().catch(() => undefined)));
  }
}

@Controller('metrics')
export class MetricsController {
  constructor(
    private readonly metrics: Metrics,
    private readonly outbox: OutboxStore,
    private readonly dataSource: DataSource,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Metrics for Prometheus: commands, event deliveries, outbox, dead letters, Node process' })
  @ApiResponse({
    status: 200,
    description: 'The Prometheus text exposition format',
    content: { [register.contentType]: { schema: { type: 'string' } } },
  })
  @Header('Content-Type', register.contentType)
  async scrape(): Promise<string> {
    // The outbox gauges are read at scrape time. If the database does not answer, they are unknown (NaN),
    // never a stale or zero figure that would hide a backlog during an outage.
    const stats = await this.outbox.stats().catch(() => undefined);
    this.metrics.outboxPending.set(stats?.pending ?? NaN);
    this.metrics.outboxOldestAge.set(stats?.oldestAgeSeconds ?? NaN);
    this.metrics.retrying.set(stats?.retrying ?? NaN);
    this.metrics.deadLettersWaiting.set(stats?.dead ?? NaN);
    this.metrics.outboxStatsUp.set(stats ? 1 : 0);
    // TypeORM's PostgreSQL driver keeps its pg.Pool as `master`.
    const pool = (this.dataSource.driver as unknown as { master?: { totalCount: number; idleCount: number; waitingCount: number } }).master;
    this.metrics.poolTotal.set(pool?.totalCount ?? NaN);
    this.metrics.poolIdle.set(pool?.idleCount ?? NaN);
    this.metrics.poolWaiting.set(pool?.waitingCount ?? NaN);
    await this.metrics.refresh();
    return register.metrics();
  }
}
