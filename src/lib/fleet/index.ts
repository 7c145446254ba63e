export * from './affinity.js';
export * from './labels.js';
export * from './names.js';
export * from './nfd.js';
export * from './node-affinity.js';
export * from './traits.js';
export * from './units.js';
export * from './host.js';
