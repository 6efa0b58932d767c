// Node entry: everything the main module exports, already initialised.
export * from './fltr_credits.js';
