/**
 * HMAC request signing (contract v1.1 section 6.2): the credential's `payload` template is
 * rendered over method, path, the exact body text sent and a Unix timestamp taken per attempt,
 * then signed with node:crypto. The body passes through Liquid untouched (no output escaping),
 * and got sends the same string as UTF-8, so the signed bytes are the bytes on the wire.
 */
import { createHmac } from 'node:crypto';
import type { Template } from 'liquidjs';
import { payloadLiquid, type HmacCredential } from '../contract/credential.js';

export interface SignInput {
  method: string;
  url: URL;
  /** The body text exactly as it will be sent; undefined for none. */
  body: string | undefined;
  /** Unix seconds (fresh for every attempt). */
  timestamp: number;
}

const parsed = new Map<string, Template[]>();

function template(source: string): Template[] {
  let t = parsed.get(source);
  if (!t) {
    // The schema has already parsed it once (credential.ts): this cannot throw for a saved credential.
    t = payloadLiquid.parse(source);
    if (parsed.size >= 1000) parsed.clear();
    parsed.set(source, t);
  }
  return t;
}

/** The string that is signed. path is the request target: path and query, as sent. */
export function signingPayload(cred: HmacCredential, input: SignInput): string {
  const vars = {
    method: input.method,
    path: `${input.url.pathname}${input.url.search}`,
    body: input.body ?? '',
    timestamp: String(input.timestamp),
  };
  return payloadLiquid.renderSync(template(cred.payload), vars) as string;
}

/** The headers to add: the signature, and the timestamp when the credential names a header for it. */
export function signatureHeaders(cred: HmacCredential, input: SignInput): Record<string, string> {
  const signature = createHmac(cred.algorithm, cred.secret)
    .update(signingPayload(cred, input), 'utf8')
    .digest(cred.encoding);
  const headers: Record<string, string> = { [cred.header.toLowerCase()]: signature };
  if (cred.timestampHeader) headers[cred.timestampHeader.toLowerCase()] = String(input.timestamp);
  return headers;
}
