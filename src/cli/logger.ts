import pino, { type Logger } from 'pino';
import type { LogLevel } from './config.js';

/** JSON logs on stdout with fixed keys (component, hiveId, workerId, rpc); times as ISO strings. */
export function createLogger(level: LogLevel): Logger {
  return pino({
    name: 'hive-registry',
    level,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
