import { pino } from 'pino';

export type Logger = pino.Logger;

export interface LoggerOptions {
  /** Lowest level written; 'silent' for tests. Default 'info'. */
  level?: string;
  /** Who logs (`server`, `fleet`, …). Default 'slipway'. */
  name?: string;
  /** One readable line per entry instead of JSON (for a terminal). Default false. */
  human?: boolean;
  /** Where entries go. Default: stderr. */
  destination?: { write(s: string): unknown };
}

/** Logs to stderr, as JSON or as human lines; secrets are redacted by path either way. */
export function createLogger(options: LoggerOptions = {}): Logger {
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
    options.human
      ? humanLines(options.destination ?? pino.destination(2))
      : ((options.destination as pino.DestinationStream | undefined) ?? pino.destination(2)),
  );
}

const LEVELS: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};
const OMITTED = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg', 'err']);

/** A pino destination that turns each JSON entry into `12:04:05 info  fleet: message key=value …`. */
function humanLines(to: { write(s: string): unknown }): { write(s: string): void } {
  return {
    write(line) {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        to.write(line);
        return;
      }
      const time = new Date(Number(entry.time)).toTimeString().slice(0, 8);
      const level = (LEVELS[Number(entry.level)] ?? String(entry.level)).padEnd(5);
      const fields = Object.entries(entry)
        .filter(([key]) => !OMITTED.has(key))
        .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
      const err = entry.err as { message?: string } | undefined;
      if (err?.message) fields.push(`error=${JSON.stringify(err.message)}`);
      to.write(
        `${time} ${level} ${entry.name}: ${entry.msg}${fields.length ? `  ${fields.join(' ')}` : ''}\n`,
      );
    },
  };
}

export const silentLogger: Logger = pino({ level: 'silent' });
