import { Module } from '@nestjs/common';
import { FailedEventsController } from './failed-events.controller.js';
import { AdminTokenGuard } from './admin-token.guard.js';
import { DeadLetterOperations } from './dead-letters.service.js';

@Module({ controllers: [FailedEventsController], providers: [AdminTokenGuard, DeadLetterOperations] })
export class AdminModule {}
