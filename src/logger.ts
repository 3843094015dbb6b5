/**
 * pino JSON logs. Two layers keep secrets out: redaction of header paths (case-sensitive in
 * pino, so both spellings are listed) and a last-line scrubber on every written line that
 * removes any configured secret value, however it got into the record.
 */
import { pino, type Logger } from 'pino';
import type { Scrub } from './template/secrets.js';

const SENSITIVE = ['authorization', 'Authorization', 'AUTHORIZATION', 'cookie', 'Cookie', 'x-api-key', 'X-Api-Key', 'X-API-Key'];
export const REDACT_PATHS = [
  ...SENSITIVE.flatMap((h) => [`headers["${h}"]`, `*.headers["${h}"]`, `req.headers["${h}"]`]),
  'token', '*.token', 'password', '*.password', 'secrets', '*.secrets',
];

export function createLogger(level: string, scrub: Scrub, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'invoke-api-worker' },
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      hooks: { streamWrite: scrub },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? pino.destination({ sync: false }),
  );
}

export type { Logger };
