/**
 * pino JSON logs. Two layers keep secrets out: redaction of header paths (case-sensitive in
 * pino, so both spellings are listed) and a last-line scrubber on every written line that
 * removes any configured secret value, however it got into the record.
 *
 * The "*." paths are applied by our own formatter, one level deep exactly as pino's '*' is:
 * given to pino, a path starting with a wildcard runs every key of every line through its
 * redactor, several times the cost of the rest of the line (docs/patches.md). Child bindings
 * get the same formatter through src/patches/pino-child-bindings.ts.
 */
import { pino, type Logger } from 'pino';
import { childBindingsPatchApplies, formatChildBindings } from './patches/pino-child-bindings.js';
import type { Scrub } from './template/secrets.js';

const SENSITIVE = ['authorization', 'Authorization', 'AUTHORIZATION', 'cookie', 'Cookie', 'x-api-key', 'X-Api-Key', 'X-API-Key'];
const SENSITIVE_KEYS = ['token', 'password', 'secrets'];
export const REDACT_PATHS = [
  ...SENSITIVE.flatMap((h) => [`headers["${h}"]`, `*.headers["${h}"]`, `req.headers["${h}"]`]),
  'token', '*.token', 'password', '*.password', 'secrets', '*.secrets',
];
const CENSOR = '[REDACTED]';

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => v !== null && typeof v === 'object';
/** A copy keeping prototype and own properties (an Error keeps message and stack). */
const copyOf = <T extends object>(v: T): T => Object.defineProperties(Object.create(Object.getPrototypeOf(v)), Object.getOwnPropertyDescriptors(v));

/** `x.token`, `x.password`, `x.secrets`, `x.headers[<sensitive>]` censored in a copy; v itself if none. */
function censorNested(v: Obj): Obj {
  let copy: Obj | undefined;
  for (const key of SENSITIVE_KEYS) {
    if (key in v) (copy ??= copyOf(v))[key] = CENSOR;
  }
  const headers = v.headers;
  if (isObject(headers)) {
    let h: Obj | undefined;
    for (const name of SENSITIVE) if (name in headers) (h ??= copyOf(headers))[name] = CENSOR;
    if (h) (copy ??= copyOf(v)).headers = h;
  }
  return copy ?? v;
}

/** The '*.'-paths of REDACT_PATHS over one record; never mutates what the caller passed. */
export function redactNested(obj: Obj): Obj {
  let out = obj;
  for (const key of Object.keys(obj)) {
    const v = obj[key];
    if (!isObject(v)) continue;
    const censored = censorNested(v);
    if (censored !== v) (out === obj ? (out = { ...obj }) : out)[key] = censored;
  }
  return out;
}

/**
 * Asynchronous, buffered output (stdout by default): lines are written in blocks of 4 KiB, or
 * at least every second, instead of one write per line (a write per job attempt was a large
 * share of the worker's CPU at full load: docs/benchmarks.md). pino flushes it synchronously when
 * the process exits, also on an uncaught exception; only a SIGKILL can lose the last second.
 */
export function logDestination(dest: string | number = 1): pino.DestinationStream {
  return pino.destination({ dest, sync: false, minLength: 4096, periodicFlush: 1000 });
}

export function createLogger(level: string, scrub: Scrub, destination?: pino.DestinationStream): Logger {
  const warnings: string[] = [];
  // Unpatched (another pino version), pino applies every path itself: correct, slower.
  const patched = childBindingsPatchApplies((m) => warnings.push(m));
  const logger = pino(
    {
      level,
      base: { service: 'invoke-api-worker' },
      redact: { paths: patched ? REDACT_PATHS.filter((p) => !p.startsWith('*.')) : REDACT_PATHS, censor: CENSOR },
      formatters: patched ? { log: redactNested } : {},
      hooks: { streamWrite: scrub },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? logDestination(),
  );
  if (patched) formatChildBindings(logger, redactNested);
  for (const message of warnings) logger.warn(message);
  return logger;
}

export type { Logger };
