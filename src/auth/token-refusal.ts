/**
 * Did the partner refuse the access token it was sent? RFC 6750 3.1 says so with a 401
 * (invalid_token: revoked, or expired before the time the endpoint gave). Some partners say it
 * in a 200 body instead (`{"error": "token_expired"}`): a credential's `tokenExpired` rule, a
 * Liquid condition over response.status, response.headers and response.body like
 * expect.success (outcome-rules/condition.ts, the same memory budget), declares those.
 *
 * The rule sees the answer after the token was redacted from it, so it can only ever say yes
 * or no about what the partner sent, never carry the token anywhere.
 */
import type { OAuth2Credential } from '../contract/credential.js';
import { InvokeError } from '../contract/errors.js';
import type { HttpResult } from '../http/call.js';
import { parseBody } from '../lib/json.js';
import { ConditionError, conditionFor } from '../outcome-rules/condition.js';

/** '401' by status, 'expired' by the credential's rule, undefined when the token was accepted. */
export type TokenRefusal = '401' | 'expired' | undefined;

export function tokenRefusal(
  name: string,
  credential: OAuth2Credential,
  res: HttpResult,
): TokenRefusal {
  if (res.status === 401) return '401';
  if (credential.tokenExpired === undefined) return undefined;
  const body = parseBody(res.body, res.headers['content-type'], res.overLimit);
  try {
    return conditionFor(credential.tokenExpired).test({
      response: { status: res.status, headers: res.headers, body },
    })
      ? 'expired'
      : undefined;
  } catch (err) {
    // Over its budget or a filter error: the credential is broken, retrying cannot mend it.
    const why = err instanceof ConditionError ? err.message : 'evaluation failed';
    throw new InvokeError('AUTH_ERROR', `credential ${name}: tokenExpired: ${why}`, {
      retryable: false,
      status: res.status,
    });
  }
}
