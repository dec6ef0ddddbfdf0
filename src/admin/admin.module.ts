import { Module } from '@nestjs/common';
import { FailedEventsController } from './failed-events.controller.js';
import { AdminTokenGuard } from './admin-token.guard.js';

@Module({ controllers: [FailedEventsController], providers: [AdminTokenGuard] })
export class AdminModule {}
