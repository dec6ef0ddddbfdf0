/**
 * The name on Redis of every key, channel and stream the service uses: REDIS_KEY_PREFIX followed by the
 * name in code (the book's names when the prefix is empty), so deployments sharing one Redis stay apart.
 */
export class RedisNames {
  constructor(readonly prefix = '') {}

  of(name: string): string {
    return `${this.prefix}${name}`;
  }
}
