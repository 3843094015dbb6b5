/**
 * One line per start-up failure, naming the cause and the fix: what a newcomer sees when the
 * port is taken or Redis is not there. Pure, so each wording is tested without a process.
 */
import { redactUrl } from '../lib/redact-url.js';

type CodedError = Error & { code?: string };

/** Why the HTTP server could not listen on host:port, and what to change. */
export function explainListenError(err: CodedError, host: string, port: number): string {
  switch (err.code) {
    case 'EADDRINUSE':
      return `port ${port} is in use (EADDRINUSE): set PORT or stop the other process`;
    case 'EACCES':
      return `port ${port} needs privileges (EACCES): set PORT to 1024 or above`;
    case 'EADDRNOTAVAIL':
      return `${host} is not an address of this machine (EADDRNOTAVAIL): set INVOKE_API_HOST`;
    default:
      return `cannot listen on ${host}:${port} (${err.code ?? err.name}): check PORT and INVOKE_API_HOST`;
  }
}

/** Redis refused us for a reason a new setting fixes, by the reply's first word. */
const AUTH_REPLIES = /^(NOAUTH|WRONGPASS|ERR AUTH|ERR invalid password|NOPERM)/;

/**
 * Why Redis is unreachable at start. `reason` is the last connection error's code (ECONNREFUSED,
 * ENOTFOUND...) or a Redis reply; undefined when the connection simply never answered.
 */
export function explainRedisError(url: string, reason: string | undefined): string {
  const at = `Redis at ${redactUrl(url)}`;
  if (reason && AUTH_REPLIES.test(reason)) {
    return `${at} refused the credentials (${reason.split(' ')[0]}): check the user and password in REDIS_URL`;
  }
  if (reason === 'ENOTFOUND' || reason === 'EAI_AGAIN') {
    return `cannot resolve the host of ${at} (${reason}): check the host name in REDIS_URL`;
  }
  return `cannot reach ${at} (${reason ?? 'no answer'}): is it running? set REDIS_URL`;
}

/** Errors that only say "the connection is down": reported once per outage, not per retry. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);
export function isConnectionError(err: CodedError): boolean {
  return (
    (err.code !== undefined && CONNECTION_CODES.has(err.code)) ||
    /^Connection is closed|connect ETIMEDOUT|Stream isn't writeable/.test(err.message)
  );
}
