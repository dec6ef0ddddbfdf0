import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { settledWithin } from '../shutdown.js';

const TTL_MS = 10_000;
const RENEW_MS = 2_000;
const STOP_WAIT_MS = 2_000;

// Renew the lock if it is ours, take it if it is free: one atomic step.
const TAKE_OR_RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2])
elseif redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return 1 else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export interface LeaderCallbacks {
  /** Called when this instance becomes the leader; it leads once the promise resolves. */
  lead(): Promise<void>;
  /** Called when it stops being the leader (lock lost, Redis unreachable, shutdown). */
  follow(): Promise<void>;
}

/**
 * A Redis lock with a TTL (10 s), renewed every 2 s while its holder lives: of N instances exactly one leads,
 * and another takes over within seconds when the leader dies. One election round at a time.
 */
export class LeaderLock {
  private readonly logger = new Logger('LeaderLock');
  private readonly instanceId = randomUUID();
  private leading = false;
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly callbacks: LeaderCallbacks,
  ) {}

  get isLeader(): boolean {
    return this.leading;
  }

  /** Runs an election round now (at start, and when Redis comes back), then every few seconds. */
  campaign(): Promise<void> {
    this.round ??= this.elect().finally(() => (this.round = undefined));
    return this.round;
  }

  /** Steps down and releases the lock at once, so that another instance need not wait for the TTL. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    // A round under way ends within a Redis command timeout, unless Redis hangs in lead() (the subscriber
    // queues while offline): a shutdown waits for it a little, never for ever.
    if (this.round) await settledWithin(this.round, STOP_WAIT_MS);
    if (this.leading) await this.release();
  }

  private async release(): Promise<void> {
    if (!this.leading) return; // released already (stop and a late round both release)
    await this.stepDown();
    await this.redis.eval(RELEASE, 1, this.key, this.instanceId).catch(() => undefined);
  }

  private async elect(): Promise<void> {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    try {
      const held = (await this.redis.eval(TAKE_OR_RENEW, 1, this.key, this.instanceId, TTL_MS)) === 1;
      if (held && !this.leading) {
        await this.callbacks.lead();
        this.leading = true;
        if (this.stopped) return void (await this.release()); // stop() gave up waiting for this round
      } else if (!held && this.leading) {
        await this.stepDown();
      }
    } catch (error) {
      // Redis unreachable: another instance may take over once our lock expires, so stop leading now.
      if (this.leading) await this.stepDown();
      this.logger.debug({ msg: `leader election for ${this.key}: ${(error as Error).message}` });
    }
    if (!this.stopped) {
      this.timer = setTimeout(() => void this.campaign(), RENEW_MS);
      this.timer.unref();
    }
  }

  private async stepDown(): Promise<void> {
    this.leading = false;
    await this.callbacks.follow().catch(() => undefined);
  }
}
