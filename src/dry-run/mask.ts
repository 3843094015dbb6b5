/**
 * The rendered request as the dry run shows it. Secret values are removed by the scrubber
 * (dry-run.ts, over the whole result); this file also masks values that carry credentials by
 * their name alone (Authorization, Cookie, X-Api-Key, ?api_key=...), because a step may hold a
 * literal key that was never configured as an INVOKE_SECRET_.
 */
import type { RenderedRequest } from '../template/render.js';
import { REDACTED } from '../template/secrets.js';

export interface ShownRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  /** Parsed JSON for a JSON body, the text otherwise, null without a body. */
  body: unknown;
}

/** Header and query names whose value is a credential (case-insensitive). */
const SENSITIVE_NAME =
  /(^|[-_])(authorization|auth|cookie|token|secret|password|passwd|signature|session)([-_]|$)|api[-_]?key|access[-_]?key/i;

export const isSensitiveName = (name: string) => SENSITIVE_NAME.test(name);

/** "Bearer abc" -> "Bearer [REDACTED]": the scheme helps the editor, the credential stays hidden. */
function maskValue(name: string, value: string): string {
  if (/^(proxy-)?authorization$/i.test(name)) {
    const scheme = /^([A-Za-z][A-Za-z0-9._~+-]*) +\S/.exec(value)?.[1];
    return scheme ? `${scheme} ${REDACTED}` : REDACTED;
  }
  return REDACTED;
}

function maskUrl(raw: string): string {
  const url = new URL(raw);
  for (const name of new Set(url.searchParams.keys())) {
    if (isSensitiveName(name)) url.searchParams.set(name, REDACTED);
  }
  return url.toString();
}

function shownBody(body: RenderedRequest['body']): unknown {
  if (!body) return null;
  if (body.contentType === 'application/json') return JSON.parse(body.text) as unknown;
  return body.text;
}

export function maskRequest(rendered: RenderedRequest, userAgent: string): ShownRequest {
  // Secrets are still references here (template/secret-refs.ts): shown as [REDACTED].
  const refs = rendered.secretRefs;
  const req = refs ? { ...rendered, ...showRefs(rendered, (t) => refs.show(t)) } : rendered;
  const headers: Record<string, string> = { 'user-agent': userAgent };
  for (const [name, value] of Object.entries(req.headers))
    headers[name] = isSensitiveName(name) ? maskValue(name, value) : value;
  if (req.body) headers['content-type'] ??= req.body.contentType;
  return { method: req.method, url: maskUrl(req.url), headers, body: shownBody(req.body) };
}

function showRefs(
  req: RenderedRequest,
  show: (t: string) => string,
): Pick<RenderedRequest, 'url' | 'headers' | 'body'> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) headers[k] = show(v);
  return {
    url: show(req.url),
    headers,
    body: req.body && { ...req.body, text: show(req.body.text) },
  };
}
