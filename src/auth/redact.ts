/**
 * A partner that echoes the request (debug endpoints, httpbin-style mirrors) would hand the
 * credential back in its body, which the worker saves in the run's context and the dry run
 * shows. The auth stage removes what it added (token, Basic value, password) from the answer
 * before anything else sees it, raw and URL-encoded.
 */
import type { HttpResult } from '../http/call.js';
import { REDACTED } from '../template/secrets.js';

const MASK = Buffer.from(REDACTED);

function replaceAll(buf: Buffer, needle: Buffer): Buffer {
  let at = buf.indexOf(needle);
  if (at < 0) return buf;
  const parts: Buffer[] = [];
  let from = 0;
  while (at >= 0) {
    parts.push(buf.subarray(from, at), MASK);
    from = at + needle.length;
    at = buf.indexOf(needle, from);
  }
  parts.push(buf.subarray(from));
  return Buffer.concat(parts);
}

export function redactAnswer(res: HttpResult, values: readonly string[]): HttpResult {
  const needles = [
    ...new Set(values.flatMap((v) => [v, encodeURIComponent(v)]).filter((v) => v.length >= 4)),
  ];
  let body = res.body;
  const headers = { ...res.headers };
  for (const n of needles) {
    body = replaceAll(body, Buffer.from(n));
    for (const h in headers) headers[h] = headers[h]!.split(n).join(REDACTED);
  }
  return { ...res, body, headers };
}
