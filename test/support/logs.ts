import { Writable } from 'node:stream';
import { createRootLogger, type Logger } from '../../src/logging/logger.js';

/** Every line a logger writes, kept in memory: what an operator's log collector would receive. */
export class CapturedLogs extends Writable {
  readonly lines: string[] = [];
  readonly logger: Logger;

  constructor(format: 'json' | 'pretty' = 'json', level: 'info' | 'debug' = 'info') {
    super();
    this.logger = createRootLogger({ logFormat: format, logLevel: level }, this);
  }

  override _write(chunk: Buffer, _encoding: string, callback: () => void): void {
    this.lines.push(...chunk.toString().split('\n').filter((l) => l.length > 0));
    callback();
  }

  get text(): string {
    return this.lines.join('\n');
  }

  /** The JSON lines, parsed. */
  get entries(): Record<string, unknown>[] {
    return this.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}
