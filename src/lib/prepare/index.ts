export * from './plan.js';
export * from './lock.js';
export * from './apply.js';
