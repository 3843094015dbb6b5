/**
 * One attempt as an operator reads it at 3 a.m.: what was sent (URL and headers masked: values
 * of credential-named headers and query parameters by name, configured secret values in every
 * spelling by the scrubber), what came back (allow-listed headers and the first N bytes of the
 * body) and how it was classified. Operator actions (a retry with corrected data) are kept in
 * the same list, so the story reads in order.
 */
import { maskRequest } from '../dry-run/mask.js';
import type { AttemptInfo } from '../queue/attempt-hooks.js';
import type { Scrub } from '../template/secrets.js';

export interface AttemptRecord {
  kind: 'attempt';
  n: number;
  /** When the attempt started. */
  at: string;
  durationMs: number;
  outcome: AttemptInfo['outcome'];
  method: string;
  /** Masked; null when the request could not be rendered. */
  url: string | null;
  headers: Record<string, string> | null;
  status: number | null;
  code: string | null;
  detail: string | null;
  responseHeaders: Record<string, string>;
  /** The first bodyLimit bytes of the response body as UTF-8 text; null without a response. */
  body: string | null;
  /** Bytes of body read (the record keeps at most bodyLimit of them). */
  bodyBytes: number;
  bodyTruncated: boolean;
}

export interface OperatorRecord {
  kind: 'operator';
  action: 'retry-with-data';
  at: string;
  by: string;
  /** Top-level data fields that differ from the job's data before the action. */
  changed: string[];
}

export type JobRecord = AttemptRecord | OperatorRecord;

export interface RecordOptions {
  userAgent: string;
  bodyLimit: number;
  scrub: Scrub;
}

/** An AttemptInfo -> its record, masked and scrubbed (the scrubber runs over the whole JSON). */
export function buildAttemptRecord(
  info: AttemptInfo,
  opts: RecordOptions,
  now = Date.now(),
): AttemptRecord {
  const shown = info.request ? shownRequest(info.request, opts.userAgent) : undefined;
  const res = info.response;
  return {
    kind: 'attempt',
    n: info.attempt ?? info.job.attemptsMade + 1,
    at: new Date(now - info.durationMs).toISOString(),
    durationMs: Math.round(info.durationMs),
    outcome: info.outcome,
    method: info.method,
    url: shown?.url ?? null,
    headers: shown?.headers ?? null,
    status: info.status,
    code: info.errorCode ?? null,
    detail: info.errorMessage ?? null,
    responseHeaders: res?.headers ?? {},
    body: res && opts.bodyLimit > 0 ? res.body.subarray(0, opts.bodyLimit).toString('utf8') : null,
    bodyBytes: res?.body.length ?? 0,
    bodyTruncated: res ? res.truncated || res.body.length > opts.bodyLimit : false,
  };
}

/**
 * The masked URL and headers, or none when they cannot even be shown (a URL that does not
 * parse). The request body is not part of the record: parsing and masking it cost more per job
 * than the rest of the record (docs/benchmarks.md), and the job's data holds its template.
 */
function shownRequest(req: NonNullable<AttemptInfo['request']>, userAgent: string) {
  try {
    const shown = maskRequest({ ...req, body: undefined }, userAgent);
    if (req.body) shown.headers['content-type'] ??= req.body.contentType;
    return shown;
  } catch {
    return undefined;
  }
}

/** Records are lines of the BullMQ job log marked with this prefix (see store.ts). */
export const RECORD_PREFIX = 'record ';

export function encodeRecord(record: JobRecord, scrub: Scrub): string {
  return RECORD_PREFIX + scrub(JSON.stringify(record));
}

export function decodeRecord(line: string): JobRecord | undefined {
  if (!line.startsWith(RECORD_PREFIX)) return undefined;
  try {
    const r = JSON.parse(line.slice(RECORD_PREFIX.length)) as JobRecord;
    return r && (r.kind === 'attempt' || r.kind === 'operator') ? r : undefined;
  } catch {
    return undefined;
  }
}
