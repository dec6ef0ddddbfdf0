import { Logger } from '@nestjs/common';
import nodemailer, { type Transporter } from 'nodemailer';
import { Notifier } from './notifier.js';

/** Sends e-mail over SMTP (`SMTP_URL`). A refused or failed send throws, so the caller's retry takes over. */
export class EmailNotifier extends Notifier {
  private readonly transport: Transporter;

  constructor(
    smtpUrl: string,
    private readonly from: string,
  ) {
    super();
    this.transport = nodemailer.createTransport(smtpUrl, {
      connectionTimeout: 5_000,
      greetingTimeout: 5_000,
      socketTimeout: 10_000,
    } as never);
  }

  async send(to: string, subject: string, body: string, key?: string): Promise<void> {
    const messageId = key ? `<${key}@allocation-service>` : undefined;
    await this.transport.sendMail({ from: this.from, to, subject, text: body, messageId });
  }

  close(): void {
    this.transport.close();
  }
}

/** Without SMTP_URL: the notification is a log line. */
export class LogNotifier extends Notifier {
  private readonly logger = new Logger('Notifications');

  async send(to: string, subject: string, body: string): Promise<void> {
    this.logger.log({ msg: `notification to ${to}: ${subject}`, to, subject, body });
  }
}
