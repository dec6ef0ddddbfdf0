export * from './batch.js';
export * from './errors.js';
export * from './events.js';
export * from './order-line.js';
export * from './product.js';
