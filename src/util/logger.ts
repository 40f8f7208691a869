/** The pino logger factory: JSON lines on stdout (or a destination given by tests). */
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function createLogger(level: LogLevel = 'info', destination?: DestinationStream): Logger {
  return pino({ level, base: { name: 'switchboard' } }, destination ?? pino.destination({ sync: false }));
}

/** A logger that drops everything: for unit tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
