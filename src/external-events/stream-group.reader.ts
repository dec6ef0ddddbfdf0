import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { Redis } from 'ioredis';
import { STREAM_BLOCK_MS } from './redis.connections.js';

/** One entry of a stream: its id and its fields (null fields: the entry was trimmed from the stream meanwhile). */
export interface StreamEntry {
  id: string;
  fields: Record<string, string> | null;
}

export interface StreamGroupOptions {
  /** The stream's key on Redis (with REDIS_KEY_PREFIX). */
  key: string;
  group: string;
  /** Entries pending with another consumer for this long are claimed by this one. */
  claimIdleMs: number;
  /** Entries read at once. */
  count?: number;
  /**
   * Takes entries in hand; resolves with the ids that may be acknowledged now (their effect is stored).
   * Ids it leaves out stay pending with this consumer and are offered again after a back-off.
   */
  take(entries: StreamEntry[]): Promise<string[]>;
  /** Resolves when this instance can take more work (back-pressure). */
  ready(): Promise<void>;
}

const BACKOFF_MS = 500;
const CLAIM_ROUNDS = 10;

/**
 * One consumer of a Redis stream's consumer group: every instance is one (with a name of its own), and
 * Redis hands each entry to exactly one of them. It reads entries left pending with itself first, then new
 * ones; every `claimIdleMs / 2` it also claims (XAUTOCLAIM) the entries a dead consumer left pending longer
 * than `claimIdleMs`, and forgets consumers that have long been gone with nothing pending. An entry is
 * acknowledged only once `take` says its effect is stored. The group is created (at the stream's start,
 * so entries added before any instance ran are read too) if it is missing, also after a Redis that lost
 * its data restarts.
 */
export class StreamGroupReader {
  private readonly logger = new Logger('StreamGroupReader');
  readonly consumer = `${os.hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private signalStop: () => void = () => undefined;
  /** Resolves when stop() is called: whatever the loop waits for (a back-off, room) ends then. */
  private readonly stopping = new Promise<void>((resolve) => (this.signalStop = resolve));

  constructor(
    /** A connection of its own: it blocks while it waits for entries. */
    private readonly reader: Redis,
    /** For everything else (acknowledgements, claims). */
    private readonly commands: Redis,
    private readonly options: StreamGroupOptions,
  ) {}

  start(): void {
    this.loop ??= this.run();
  }

  /** Stops reading; entries taken but not acknowledged stay pending, and another instance claims them. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.signalStop();
    this.reader.disconnect(); // ends a blocked read at once (the connection is this reader's alone)
    await this.loop;
  }

  private async run(): Promise<void> {
    const { key, group } = this.options;
    // Own pending entries first (none for a new consumer; some after a failure to store them).
    let backlog = true;
    let groupReady = false;
    let claimedAt = 0;
    let failing = false;
    while (!this.stopped) {
      if (this.reader.status !== 'ready' || this.commands.status !== 'ready') {
        await this.sleep(100); // not connected (yet, or any more): ioredis reconnects by itself
        continue;
      }
      try {
        if (!groupReady) {
          await this.createGroup();
          groupReady = true;
        }
        await Promise.race([this.options.ready(), this.stopping]); // a stopping reader waits for no room
        if (this.stopped) break;
        if (Date.now() - claimedAt >= this.options.claimIdleMs / 2) {
          claimedAt = Date.now();
          if (!(await this.claim())) backlog = true;
        }
        if (this.stopped) break;
        const entries = await this.read(backlog ? '0' : '>');
        if (backlog && entries.length === 0) {
          backlog = false;
          continue;
        }
        failing = false;
        if (!(await this.takeAndAck(entries))) {
          backlog = true;
          await this.sleep(BACKOFF_MS);
        }
      } catch (error) {
        if (this.stopped) break;
        const message = (error as Error).message;
        if (message.includes('NOGROUP')) groupReady = false; // the stream or its group is gone (Redis lost its data)
        // Once per streak of failures, not every half second of an outage.
        if (!failing) this.logger.warn({ msg: `reading stream ${key} (group ${group}): ${message}` });
        failing = true;
        backlog = true;
        await this.sleep(BACKOFF_MS);
      }
    }
  }

  private async createGroup(): Promise<void> {
    try {
      await this.commands.xgroup('CREATE', this.options.key, this.options.group, '0', 'MKSTREAM');
      this.logger.log({ msg: `created consumer group ${this.options.group} on stream ${this.options.key}` });
    } catch (error) {
      if (!(error as Error).message.includes('BUSYGROUP')) throw error;
    }
  }

  private async read(from: '0' | '>'): Promise<StreamEntry[]> {
    const { key, group, count = 100 } = this.options;
    const block = from === '>' ? ['BLOCK', String(STREAM_BLOCK_MS)] : [];
    const reply = (await this.reader.call('XREADGROUP', 'GROUP', group, this.consumer, 'COUNT', String(count), ...block, 'STREAMS', key, from)) as
      | [string, [string, string[] | null][]][]
      | null;
    return reply ? entriesOf(reply[0][1]) : [];
  }

  /** Claims entries idle with dead consumers and takes them; false if some could not be taken. */
  private async claim(): Promise<boolean> {
    const { key, group, claimIdleMs, count = 100 } = this.options;
    let cursor = '0-0';
    let allTaken = true;
    for (let round = 0; round < CLAIM_ROUNDS; round++) {
      const [next, claimed] = (await this.commands.call('XAUTOCLAIM', key, group, this.consumer, String(claimIdleMs), cursor, 'COUNT', String(count))) as [
        string,
        [string, string[] | null][],
      ];
      if (claimed.length > 0) {
        this.logger.log({ msg: `claimed ${claimed.length} entries of stream ${key} left pending by other consumers` });
        allTaken = (await this.takeAndAck(entriesOf(claimed))) && allTaken;
      }
      cursor = next;
      if (cursor === '0-0') break;
    }
    await this.forgetGoneConsumers();
    return allTaken;
  }

  /** Consumers with nothing pending that have not read for a long time are gone: the group forgets them. */
  private async forgetGoneConsumers(): Promise<void> {
    const { key, group, claimIdleMs } = this.options;
    const gone = Math.max(10 * claimIdleMs, 60_000);
    const consumers = (await this.commands.call('XINFO', 'CONSUMERS', key, group)) as (string | number)[][];
    for (const info of consumers) {
      const { name, pending, idle } = fieldsOf(info);
      if (name !== this.consumer && Number(pending) === 0 && Number(idle) > gone) {
        await this.commands.call('XGROUP', 'DELCONSUMER', key, group, String(name));
      }
    }
  }

  /** Hands entries over and acknowledges those stored; false if some were not. */
  private async takeAndAck(entries: StreamEntry[]): Promise<boolean> {
    if (entries.length === 0) return true;
    const done = await this.options.take(entries);
    if (done.length > 0) await this.commands.xack(this.options.key, this.options.group, ...done);
    return done.length === entries.length;
  }

  private sleep(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const slept = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
    return Promise.race([slept, this.stopping]).finally(() => clearTimeout(timer));
  }
}

function entriesOf(raw: [string, string[] | null][]): StreamEntry[] {
  return raw.map(([id, flat]) => ({ id, fields: flat ? fieldsOf(flat) : null }));
}

/** Redis's flat [field, value, field, value, ...] (entries, XINFO replies) as an object. */
export function fieldsOf<V = string | number>(flat: readonly V[]): Record<string, V> {
  const fields: Record<string, V> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[String(flat[i])] = flat[i + 1];
  return fields;
}
