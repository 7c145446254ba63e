export * from './plan.js';
export * from './lock.js';
export * from './journal.js';
export * from './apply.js';
