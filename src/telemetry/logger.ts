/**
 * Structured logs (pino): JSON lines for machines, a readable line format on a terminal.
 * Context is bound once (policy, run, step) with child loggers; messages are static strings
 * with the data in fields; secrets are redacted by path.
 */
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

export type LoggerOptions = {
  level?: string;
  /** Human-friendly output (a TTY); JSON otherwise. */
  pretty?: boolean;
  /** Where JSON lines go (default stderr, so stdout stays for command output). */
  destination?: NodeJS.WritableStream;
};

const REDACT = [
  'token',
  'botToken',
  'webhookUrl',
  'signingSecret',
  'password',
  'authorization',
  '*.token',
  '*.password',
  '*.authorization',
  'headers.authorization',
];

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  if (options.pretty) {
    return pino({
      level,
      redact: { paths: REDACT, censor: '[redacted]' },
      transport: {
        target: 'pino-pretty',
        options: { destination: 2, colorize: true, translateTime: 'HH:MM:ss', ignore: 'pid,hostname' },
      },
    });
  }
  return pino(
    { level, redact: { paths: REDACT, censor: '[redacted]' }, base: { app: 'revroll' } },
    (options.destination ?? process.stderr) as never,
  );
}

/** A logger that drops everything (tests that do not look at logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
