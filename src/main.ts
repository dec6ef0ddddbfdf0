// The entry point. Tracing starts before any module of the application is imported (they are imported
// dynamically, below): an ES module is instrumented only if it is loaded after the loader hook is in place.
import { existsSync } from 'node:fs';
import { startTracing } from './tracing/tracing.js';

if (existsSync('.env')) process.loadEnvFile('.env');
const tracing = await startTracing();
const { serve } = await import('./server.js');
await serve(tracing);
