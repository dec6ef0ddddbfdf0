/** Port: tells people things (the buying team, when a SKU runs out). */
export abstract class Notifier {
  abstract send(to: string, subject: string, body: string): Promise<void>;
}
