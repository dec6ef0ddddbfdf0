/** Port: tells people things (the buying team, when a SKU runs out). */
export abstract class Notifier {
  /** `key` identifies the notification, so that a receiver can drop a duplicate. */
  abstract send(to: string, subject: string, body: string, key?: string): Promise<void>;
}
