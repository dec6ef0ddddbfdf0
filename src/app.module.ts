import { type DynamicModule, Module } from '@nestjs/common';
import { CqrsModule } from '@nestjs/cqrs';
import { AdminModule } from './admin/admin.module.js';
import { AllocationModule } from './allocation/allocation.module.js';
import type { AppConfig } from './config/config.js';
import { ConfigModule } from './config/config.module.js';
import { DatabaseModule } from './database/database.module.js';
import { eventHandlers } from './event-handlers.js';
import { ExternalEventsModule } from './external-events/external-events.module.js';
import { HealthModule } from './health/health.module.js';
import { MessagingModule } from './messaging/messaging.module.js';

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        DatabaseModule.forRoot(config),
        CqrsModule.forRoot(),
        MessagingModule.forRoot(eventHandlers(config)),
        AllocationModule,
        ExternalEventsModule.forRoot(config),
        HealthModule,
        AdminModule,
      ],
    };
  }
}
