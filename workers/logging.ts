/**
 * One logger for swerl processes (pino, JSON to stderr; level from SWERL_LOG_LEVEL, default info
 * for workers and warn for interactive CLI verbs), also installed as the Temporal SDK's logger so
 * that SDK and swerl lines share one format.
 */
import pino, { type Logger } from 'pino';
import { Runtime, type LogLevel, type LogMetadata } from '@temporalio/worker';

let root: Logger | undefined;

export function logger(defaultLevel: pino.Level = 'info'): Logger {
  root ??= pino({ level: process.env.SWERL_LOG_LEVEL || defaultLevel, base: { app: 'swerl' } }, pino.destination(2));
  return root;
}

const LEVELS: Record<LogLevel, pino.Level> = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' };

let installed = false;

/** Routes Temporal's runtime and worker logs through pino. Call once, before creating workers. */
export function installTemporalLogging(defaultLevel: pino.Level = 'info'): void {
  if (installed) return;
  installed = true;
  const log = logger(defaultLevel).child({ component: 'temporal' });
  Runtime.install({
    logger: {
      log: (level: LogLevel, message: string, meta?: LogMetadata) => log[LEVELS[level]](meta ?? {}, message),
      trace: (message: string, meta?: LogMetadata) => log.trace(meta ?? {}, message),
      debug: (message: string, meta?: LogMetadata) => log.debug(meta ?? {}, message),
      info: (message: string, meta?: LogMetadata) => log.info(meta ?? {}, message),
      warn: (message: string, meta?: LogMetadata) => log.warn(meta ?? {}, message),
      error: (message: string, meta?: LogMetadata) => log.error(meta ?? {}, message),
    },
  });
}
