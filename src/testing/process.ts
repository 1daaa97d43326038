// The harness runs PostgreSQL's programs the way the control plane does: src/control/process.ts.
export * from '../control/process.js';
