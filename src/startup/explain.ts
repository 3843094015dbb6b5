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

/** ioredis when no Sentinel named a master: "All sentinels are unreachable. ... Last error: X". */
const NO_SENTINEL_ANSWER = /^All sentinels are unreachable\.(?:.*?Last error: (.*))?/s;

/**
 * Why Redis is unreachable at start. `reason` is the last connection error's code (ECONNREFUSED,
 * ENOTFOUND...) or a Redis reply; undefined when the connection simply never answered.
 * `sentinels` (REDIS_SENTINELS) when the master is found through Sentinel.
 */
export function explainRedisError(
  url: string,
  reason: string | undefined,
  sentinels?: readonly string[],
): string {
  const viaSentinel = sentinels?.length ? NO_SENTINEL_ANSWER.exec(reason ?? '') : null;
  if (viaSentinel) return explainSentinelError(sentinels!, viaSentinel[1]);
  const at = `Redis at ${redactUrl(url)}`;
  if (reason && AUTH_REPLIES.test(reason)) {
    return `${at} refused the credentials (${reason.split(' ')[0]}): check the user and password in REDIS_URL`;
  }
  if (reason === 'ENOTFOUND' || reason === 'EAI_AGAIN') {
    return `cannot resolve the host of ${at} (${reason}): check the host name in REDIS_URL`;
  }
  return `cannot reach ${at} (${reason ?? 'no answer'}): is it running? set REDIS_URL`;
}

function explainSentinelError(sentinels: readonly string[], last: string | undefined): string {
  const at = `the Sentinels at ${sentinels.join(', ')}`;
  if (last && AUTH_REPLIES.test(last)) {
    return `${at} refused the credentials (${last.split(' ')[0]}): set REDIS_SENTINEL_PASSWORD (and REDIS_SENTINEL_USERNAME for an ACL user)`;
  }
  // ioredis reports a refused or dropped Sentinel connection as "Connection is closed.".
  const down = last?.match(/\bE[A-Z]{3,}\b|^Connection is closed/)?.[0];
  if (down) {
    const why = down.startsWith('E') ? down : 'connection closed';
    return `cannot reach ${at} (${why}): are they running? check REDIS_SENTINELS and REDIS_SENTINEL_TLS`;
  }
  return `${at} named no master (${last ? last.split(' ')[0] : 'no answer'}): check REDIS_SENTINELS and REDIS_SENTINEL_NAME`;
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
