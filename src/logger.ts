/**
 * pino JSON logs. Two layers keep secrets out: pino's redaction of REDACT_PATHS (header names
 * are case-sensitive there, so the usual spellings are listed; `*.` reaches one level down, in
 * every line and in child bindings alike) and a last-line scrubber on every written line that
 * removes any configured secret value, however it got into the record.
 */
import { pino, type Logger } from 'pino';
import type { Scrub } from './template/secrets.js';

const SENSITIVE = [
  'authorization',
  'Authorization',
  'AUTHORIZATION',
  'cookie',
  'Cookie',
  'x-api-key',
  'X-Api-Key',
  'X-API-Key',
];
export const REDACT_PATHS = [
  ...SENSITIVE.flatMap((h) => [`headers["${h}"]`, `*.headers["${h}"]`, `req.headers["${h}"]`]),
  'token',
  '*.token',
  'password',
  '*.password',
  'secrets',
  '*.secrets',
];
const CENSOR = '[REDACTED]';

/**
 * Asynchronous, buffered output (stdout by default): lines are written in blocks of 4 KiB, or
 * at least every second, instead of one write per line (a write per job attempt was a large
 * share of the worker's CPU at full load: docs/benchmarks.md). pino flushes it synchronously when
 * the process exits, also on an uncaught exception; only a SIGKILL can lose the last second.
 */
export function logDestination(dest: string | number = 1): pino.DestinationStream {
  return pino.destination({ dest, sync: false, minLength: 4096, periodicFlush: 1000 });
}

export function createLogger(
  level: string,
  scrub: Scrub,
  destination?: pino.DestinationStream,
): Logger {
  return pino(
    {
      level,
      base: { service: 'invoke-api-worker' },
      redact: { paths: REDACT_PATHS, censor: CENSOR },
      hooks: { streamWrite: scrub },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? logDestination(),
  );
}

export type { Logger };
