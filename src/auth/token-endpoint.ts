/**
 * One OAuth2 client-credentials token request (RFC 6749 section 4.4), built and checked by
 * oauth4webapi (client authentication encoding of RFC 6749 2.3.1, token response validation),
 * and sent by our own HTTP client through its customFetch hook: the same egress policy (SSRF
 * rules, address check at connect time), timeouts and response size limit as a partner call,
 * no redirects. The answer is classified into our AUTH_ERROR (contract v1.1 section 6.2):
 *   - the endpoint refused the credential (400/401 invalid_client, any other 4xx, an unusable
 *     2xx answer): permanent, the job fails at once;
 *   - the endpoint failed (network error, timeout, 5xx, 408/425/429): transient, retried with
 *     the job's backoff or the endpoint's Retry-After.
 * Error texts carry the endpoint's host and path, the status and the OAuth error code only:
 * never the token, the client secret or the library's error (whose cause holds the body).
 */
import * as oauth from 'oauth4webapi';
import { InvokeError, isInvokeError, RETRYABLE_STATUSES } from '../contract/errors.js';
import type { OAuth2Credential } from '../contract/credential.js';
import type { HttpClient, HttpResult } from '../http/call.js';
import { parseRetryAfter } from '../http/retry-after.js';

export interface AccessToken {
  value: string;
  /** expires_in of the answer, in seconds; undefined when the endpoint gave none. */
  expiresInSeconds: number | undefined;
}

export interface TokenRequestOptions {
  timeoutMs: number;
  retryAfterMaxMs: number;
}

type Send = HttpClient['send'];

export async function requestToken(
  send: Send,
  cred: OAuth2Credential,
  opts: TokenRequestOptions,
): Promise<AccessToken> {
  const url = new URL(cred.tokenUrl);
  const where = `token endpoint ${url.hostname}${url.pathname}`;
  const as: oauth.AuthorizationServer = { issuer: url.origin, token_endpoint: url.href };
  const client: oauth.Client = { client_id: cred.clientId };
  const clientAuth =
    cred.clientAuth === 'body'
      ? oauth.ClientSecretPost(cred.clientSecret)
      : oauth.ClientSecretBasic(cred.clientSecret);
  const params: Record<string, string> = {};
  if (cred.scope) params.scope = cred.scope;
  if (cred.audience) params.audience = cred.audience;

  let last: HttpResult | undefined;
  const customFetch = async (
    href: string,
    init: oauth.CustomFetchOptions<'POST', URLSearchParams>,
  ): Promise<Response> => {
    last = await send(
      {
        method: 'POST',
        url: href,
        headers: lower(init.headers),
        body: {
          text: init.body.toString(),
          contentType: 'application/x-www-form-urlencoded;charset=UTF-8',
        },
        timeoutMs: opts.timeoutMs,
        followRedirects: false,
      },
      { usedSecrets: [], url },
    );
    // A body cut at INVOKE_MAX_RESPONSE_BYTES is not a token answer: classified below.
    return new Response(last.overLimit ? '' : new Uint8Array(last.body), {
      status: last.status,
      headers: last.headers,
    });
  };

  let response: Response;
  try {
    // tokenUrl is https by schema; http only for loopback (tests), which the library refuses unless told.
    response = await oauth.clientCredentialsGrantRequest(as, client, clientAuth, params, {
      [oauth.customFetch]: customFetch,
      [oauth.allowInsecureRequests]: url.protocol === 'http:',
    });
  } catch (err) {
    throw networkFailure(err, where);
  }
  const res = last!;
  if (res.overLimit)
    throw refused(`${where} answered ${res.status} with a body over INVOKE_MAX_RESPONSE_BYTES`);
  if (res.status < 200 || res.status >= 300)
    throw statusFailure(res, await oauthErrorCode(response), where, opts.retryAfterMaxMs);
  try {
    const answer = await oauth.processClientCredentialsResponse(as, client, response);
    if (answer.token_type !== 'bearer')
      throw refused(
        `${where} issued a token of type "${safe(answer.token_type)}"; only bearer tokens are supported`,
      );
    return { value: answer.access_token, expiresInSeconds: answer.expires_in };
  } catch (err) {
    if (isInvokeError(err)) throw err;
    throw refused(
      `${where} answered ${res.status} without a usable access token (${safe((err as { code?: string }).code ?? 'invalid response')})`,
    );
  }
}

/** The OAuth error code of an error answer (RFC 6749 5.2), when it has one; never its description. */
async function oauthErrorCode(response: Response): Promise<string | undefined> {
  try {
    const body = (await response.json()) as { error?: unknown };
    return typeof body?.error === 'string' ? safe(body.error) : undefined;
  } catch {
    return undefined;
  }
}

function statusFailure(
  res: HttpResult,
  code: string | undefined,
  where: string,
  capMs: number,
): InvokeError {
  const what = `${where} answered ${res.status}${code ? ` ${code}` : ''}`;
  // 5xx and the retryable 4xx of contract section 4 (408, 425, 429) are the endpoint failing.
  if (res.status >= 500 || RETRYABLE_STATUSES.has(res.status)) {
    const retryAfterMs =
      res.status === 429 || res.status === 503 ? parseRetryAfter(res.retryAfter, capMs) : undefined;
    return new InvokeError('AUTH_ERROR', `${what}; will retry`, {
      retryable: true,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
  }
  return refused(
    `${what}: the credential was refused (check clientId, clientSecret, scope and audience)`,
  );
}

/** Our own network errors keep their verdict (a timeout is retried, a blocked URL is not). */
function networkFailure(err: unknown, where: string): InvokeError {
  if (!isInvokeError(err))
    return new InvokeError(
      'AUTH_ERROR',
      `${where}: request failed (${(err as Error)?.name ?? 'unknown'})`,
      { retryable: true },
    );
  const detail = err.detail;
  return new InvokeError('AUTH_ERROR', `${where}: ${err.code} (${detail})`, {
    retryable: err.retryable,
  });
}

const refused = (message: string) => new InvokeError('AUTH_ERROR', message, { retryable: false });

/** An endpoint-supplied word, reduced to what an OAuth error code may hold (RFC 6749 5.2). */
const safe = (s: string) => s.replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, '?').slice(0, 64);

const lower = (h: Record<string, string>) =>
  Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
