/**
 * Operations events POSTed to INVOKE_OPS_WEBHOOK_URL, through the same HTTP client and egress
 * policy as partner calls (a webhook URL is no way around the private-address block), signed
 * like Stripe's and Svix's: X-Invoke-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
 * "<t>.<body>"> with INVOKE_OPS_WEBHOOK_SECRET, so the receiver can check origin and freshness.
 * One try per event: the stream is the record; the webhook is a convenience.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { HttpClient } from '../http/call.js';
import type { Logger } from '../logger.js';
import type { OpsEntry } from './emitter.js';

export const SIGNATURE_HEADER = 'x-invoke-signature';

export function sign(secret: string, body: string, t: number): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}

/** For receivers (and tests): checks the signature and that it is at most toleranceS old. */
export function verify(
  secret: string,
  body: string,
  header: string,
  nowS = Math.floor(Date.now() / 1000),
  toleranceS = 300,
): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
  if (!m) return false;
  const t = Number(m[1]);
  if (Math.abs(nowS - t) > toleranceS) return false;
  const expected = Buffer.from(sign(secret, body, t).slice(`t=${t},v1=`.length), 'hex');
  return timingSafeEqual(expected, Buffer.from(m[2]!, 'hex'));
}

export interface WebhookOptions {
  url: string;
  secret: string | undefined;
  http: Pick<HttpClient, 'send'>;
  logger: Logger;
  timeoutMs?: number;
}

export function createWebhookDelivery(opts: WebhookOptions): (entry: OpsEntry) => Promise<void> {
  return async (entry) => {
    const body = JSON.stringify(entry);
    const headers: Record<string, string> = {
      'x-invoke-event': entry.type,
      'x-invoke-event-id': entry.id,
    };
    if (opts.secret)
      headers[SIGNATURE_HEADER] = sign(opts.secret, body, Math.floor(Date.now() / 1000));
    try {
      const res = await opts.http.send(
        {
          method: 'POST',
          url: opts.url,
          headers,
          body: { text: body, contentType: 'application/json' },
          timeoutMs: opts.timeoutMs ?? 5000,
          followRedirects: false,
        },
        { usedSecrets: [] },
      );
      if (res.status < 200 || res.status >= 300)
        opts.logger.warn(
          { type: entry.type, status: res.status },
          'operations webhook refused the event',
        );
    } catch (err) {
      opts.logger.warn(
        {
          type: entry.type,
          err: { name: (err as Error).name, code: (err as { code?: string }).code },
        },
        'operations webhook not delivered',
      );
    }
  };
}
