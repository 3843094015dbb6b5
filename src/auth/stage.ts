/**
 * The auth stage of one attempt (contract v1.1 section 6.2), run by the attempt pipeline
 * (attempt/pipeline.ts) in place of a bare send when the step sets `request.auth`:
 *
 *   1. resolve  the credential the job names, for the job's tenant (resolve.ts)
 *   2. bind     refuse any host outside the credential's `hosts` (URL_BLOCKED, permanent)
 *   3. apply    Basic, an HMAC signature over the exact body with a fresh timestamp, or an
 *               OAuth2 bearer token from the shared cache (token-cache.ts)
 *   4. send     and, for OAuth2, answer a 401 (or an answer the credential's tokenExpired rule
 *               calls expired: token-refusal.ts) once by dropping the token and sending again
 *               with a new one, inside the same attempt (so it never uses an attempt, and a
 *               partner that always refuses still fails: the second refusal is the result)
 *
 * The credential's header replaces any header of the same name the step set. Redirects to
 * another origin drop it (http/call.ts drops every step header there).
 */
import type { InvokeJob } from '../contract/job.js';
import { InvokeError } from '../contract/errors.js';
import type { AuthUse, Credential } from '../contract/credential.js';
import { hostMatches } from '../http/egress.js';
import type { HttpClient, HttpResult, SendOptions } from '../http/call.js';
import type { RenderedRequest } from '../template/render.js';
import { signatureHeaders } from './hmac.js';
import { redactAnswer } from './redact.js';
import type { ResolveCredential, ResolvedCredential } from './resolve.js';
import type { HeldToken, TokenCache } from './token-cache.js';
import { tokenRefusal } from './token-refusal.js';

export interface AuthStageDeps {
  http: Pick<HttpClient, 'send'>;
  resolve: ResolveCredential;
  /** Absent without INVOKE_SECRETS_KEY (tokens are only ever kept sealed). */
  tokens: TokenCache | undefined;
  /** Unix seconds for HMAC timestamps (tests pin it). */
  now?: () => number;
}

type AuthJob = Pick<InvokeJob, 'tenantId'> & { request: Pick<InvokeJob['request'], 'auth'> };

export type { AuthUse };

export function createAuthStage(deps: AuthStageDeps) {
  const now = deps.now ?? (() => Math.floor(Date.now() / 1000));

  function bind(resolved: ResolvedCredential, url: URL): void {
    const { hosts } = resolved.credential;
    if (!hosts.some((g) => hostMatches(g, url.hostname))) {
      throw new InvokeError(
        'URL_BLOCKED',
        `${url.hostname}: credential ${resolved.name} may only be sent to ${hosts.join(', ')}`,
      );
    }
  }

  function withHeaders(req: RenderedRequest, add: Record<string, string>): RenderedRequest {
    const names = new Set(Object.keys(add));
    const headers = Object.fromEntries(
      Object.entries(req.headers).filter(([k]) => !names.has(k.toLowerCase())),
    );
    return { ...req, headers: Object.assign(headers, add) };
  }

  async function sendWithToken(
    resolved: ResolvedCredential & {
      credential: Extract<Credential, { type: 'oauth2_client_credentials' }>;
    },
    req: RenderedRequest,
    opts: SendOptions,
    use: AuthUse,
  ): Promise<HttpResult> {
    const tokens = deps.tokens;
    if (!tokens)
      throw new InvokeError(
        'AUTH_ERROR',
        `credential ${resolved.name}: OAuth2 tokens need INVOKE_SECRETS_KEY (they are kept encrypted)`,
        { retryable: false },
      );
    const ref = { scope: resolved.scope, credential: resolved.credential };
    const bearer = (t: HeldToken) => withHeaders(req, { authorization: `Bearer ${t.value}` });
    use.token = 'failed';
    let held = await tokens.get(ref);
    use.token = held.fetched ? 'obtained' : 'cached';
    const first = redactAnswer(await deps.http.send(bearer(held), opts), [held.value]);
    const refusal = tokenRefusal(resolved.name, resolved.credential, first);
    if (refusal === undefined) return first;
    await tokens.invalidate(ref, held);
    const refused = held.value;
    use.token = 'failed';
    held = await tokens.get(ref);
    use.token = 'obtained';
    if (refusal === '401') use.retriedAfter401 = true;
    else use.retriedAfterExpired = true;
    const second = redactAnswer(await deps.http.send(bearer(held), opts), [held.value, refused]);
    // A second 401 is the result (HTTP_STATUS 401, by the status table); a fresh token the rule
    // still calls expired is not a response the step can use, and not one to retry for.
    if (tokenRefusal(resolved.name, resolved.credential, second) !== 'expired') return second;
    throw new InvokeError(
      'AUTH_ERROR',
      `credential ${resolved.name}: ${second.url.hostname} refused a new token too (tokenExpired held twice in one attempt)`,
      { retryable: false, status: second.status },
    );
  }

  /**
   * Sends the request with the job's credential applied. `seen.auth` gets the credential as
   * soon as it is resolved (the dry run shows it even when the token request then fails).
   */
  async function send(
    job: AuthJob,
    req: RenderedRequest,
    opts: SendOptions,
    seen?: { auth?: AuthUse | undefined },
  ): Promise<HttpResult> {
    const name = job.request.auth?.credential;
    if (name === undefined) return deps.http.send(req, opts);
    const resolved = await deps.resolve(job.tenantId, name);
    const c = resolved.credential;
    const use: AuthUse = { credential: name, source: resolved.source, type: c.type };
    if (seen) seen.auth = use;
    const url = opts.url ?? new URL(req.url);
    bind(resolved, url);
    switch (c.type) {
      case 'basic': {
        const value = Buffer.from(`${c.username}:${c.password}`).toString('base64');
        return redactAnswer(
          await deps.http.send(withHeaders(req, { authorization: `Basic ${value}` }), opts),
          [value, c.password],
        );
      }
      case 'hmac': {
        const signed = signatureHeaders(c, {
          method: req.method,
          url,
          body: req.body?.text,
          timestamp: now(),
        });
        return deps.http.send(withHeaders(req, signed), opts);
      }
      case 'oauth2_client_credentials':
        return sendWithToken({ ...resolved, credential: c }, req, opts, use);
    }
  }

  return { send };
}

export type AuthStage = ReturnType<typeof createAuthStage>;
