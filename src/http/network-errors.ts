/**
 * got/Node network errors -> our InvokeError (contract section 4), from the error code alone.
 * The message names host and path only: got's message has carried the full URL (with its
 * query, where secrets may sit) since 14.6, and its options carry every header.
 */
import { InvokeError } from '../contract/errors.js';

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
  'EPROTO',
  'ERR_STREAM_PREMATURE_CLOSE',
  'Z_DATA_ERROR',
  'Z_BUF_ERROR',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

const PRE_CONNECT_CODES = new Set([
  'ERR_INVALID_CHAR',
  'ERR_HTTP_INVALID_HEADER_VALUE',
  'ERR_INVALID_HTTP_TOKEN',
  'ERR_UNESCAPED_CHARACTERS',
  'ERR_INVALID_URL',
  'ERR_INVALID_ARG_VALUE',
  'ERR_INVALID_ARG_TYPE',
]);

const where = (url: URL) => `${url.hostname}${url.pathname}`;

export function mapNetworkError(err: unknown, url: URL, timedOut: boolean): InvokeError {
  if (err instanceof InvokeError) return err;
  const e = err as { code?: string; cause?: { code?: string; message?: string }; name?: string };
  const code = e.cause?.code ?? e.code ?? 'UNKNOWN';
  // Refused by Node before any connection (a header value or URL HTTP cannot carry): the
  // step's fault, never the destination's, so never retried nor counted by the breaker.
  if (PRE_CONNECT_CODES.has(code))
    return new InvokeError(
      'TEMPLATE_ERROR',
      `${where(url)}: the request cannot be sent as rendered (${code})`,
      { retryable: false },
    );
  if (timedOut)
    return new InvokeError('TIMEOUT', `no complete response from ${where(url)} within the timeout`);
  if (code === 'ERR_INVOKE_URL_BLOCKED')
    return new InvokeError(
      'URL_BLOCKED',
      `${url.hostname}: ${e.cause?.message ?? 'destination not allowed'}`,
    );
  if (code === 'ENOTFOUND' || code === 'ENODATA')
    return new InvokeError('DNS_ERROR', `${url.hostname} does not resolve (${code})`, {
      retryable: false,
    });
  if (code === 'EAI_AGAIN')
    return new InvokeError('DNS_ERROR', `temporary DNS failure for ${url.hostname} (${code})`, {
      retryable: true,
    });
  if (code === 'ETIMEDOUT' || e.name === 'TimeoutError')
    return new InvokeError('TIMEOUT', `connecting to ${where(url)} timed out`);
  if (code === 'HPE_HEADER_OVERFLOW')
    return new InvokeError(
      'RESPONSE_TOO_LARGE',
      `response headers from ${where(url)} are over INVOKE_MAX_HEADER_BYTES`,
    );
  if (
    CONNECT_CODES.has(code) ||
    code.startsWith('HPE_') ||
    code.includes('CERT') ||
    code.startsWith('ERR_TLS') ||
    code.startsWith('ERR_SSL')
  ) {
    return new InvokeError('CONNECT_ERROR', `${where(url)}: ${code}`);
  }
  return new InvokeError('CONNECT_ERROR', `${where(url)}: request failed (${code})`);
}
