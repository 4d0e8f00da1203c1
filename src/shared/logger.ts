import { pino } from 'pino';

export type Logger = pino.Logger;

/** Logs as JSON to stderr; `level` 'silent' for tests. Secrets are redacted by path. */
export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  return pino(
    {
      name: options.name ?? 'slipway',
      level: options.level ?? 'info',
      redact: {
        paths: [
          'token',
          '*.token',
          'secrets',
          '*.secrets',
          'headers.authorization',
          'req.headers.authorization',
        ],
        censor: '[redacted]',
      },
    },
    pino.destination(2),
  );
}

export const silentLogger: Logger = pino({ level: 'silent' });
