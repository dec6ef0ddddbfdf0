import 'reflect-metadata';
import { Logger } from '@nestjs/common';

// Tests provoke failures on purpose; their logs are noise unless asked for (TEST_LOGS=1).
if (!process.env.TEST_LOGS) Logger.overrideLogger(false);
