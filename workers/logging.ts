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

/**
 * Activity-only workers (rollout hosts) are meant to register no workflows; the SDK warns about it
 * on every start, which buries real warnings.
 */
function demote(level: LogLevel, message: string): LogLevel {
  return level === 'WARN' && message.startsWith('No workflows registered') ? 'DEBUG' : level;
}

/**
 * Routes Temporal's runtime and worker logs through pino. Call once, before creating workers.
 * `shutdownSignals`: the signals on which the SDK shuts every worker down (its default: SIGINT,
 * SIGTERM, SIGQUIT, SIGUSR2); [] for a process that handles them itself (the demo cleans up first).
 */
export function installTemporalLogging(defaultLevel: pino.Level = 'info', opts: { shutdownSignals?: NodeJS.Signals[] } = {}): void {
  if (installed) return;
  installed = true;
  const log = logger(defaultLevel).child({ component: 'temporal' });
  const at = (level: LogLevel, message: string, meta?: LogMetadata) => log[LEVELS[demote(level, message)]](meta ?? {}, message);
  Runtime.install({
    ...(opts.shutdownSignals ? { shutdownSignals: opts.shutdownSignals } : {}),
    logger: {
      log: at,
      trace: (message: string, meta?: LogMetadata) => at('TRACE', message, meta),
      debug: (message: string, meta?: LogMetadata) => at('DEBUG', message, meta),
      info: (message: string, meta?: LogMetadata) => at('INFO', message, meta),
      warn: (message: string, meta?: LogMetadata) => at('WARN', message, meta),
      error: (message: string, meta?: LogMetadata) => at('ERROR', message, meta),
    },
  });
}
